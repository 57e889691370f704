using ConvNeXt.Batch.Service.Local;
using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using ConvNeXt.Batch.Cli.Output;
using ConvNeXt.Batch.Service.Storage;
using ConvNeXt.Batch.Service.Uploads;

namespace ConvNeXt.Batch.Cli.Commands;

/// <summary><c>upload DIR --container NAME [--prefix P/]</c>: a folder's images into a blob container, with progress.</summary>
internal static class UploadCommand
{
    public static Command Create(CliConsole console)
    {
        var folder = new Argument<string>("DIR") { Description = "Folder of images (subfolders included; blob names are the paths below DIR)" };
        var container = new Option<string>("--container") { Description = "Destination container (created if missing)", DefaultValueFactory = _ => ContainerNames.Images, HelpName = "NAME" };
        var prefix = new Option<string?>("--prefix") { Description = "Put every blob under this name prefix (e.g. 2024/)", HelpName = "PREFIX" };
        var parallel = new Option<int>("--parallel") { Description = "Blobs uploaded at once", DefaultValueFactory = _ => 8, HelpName = "N" };
        var quiet = new Option<bool>("--quiet", "-q") { Description = "No progress bar" };
        OptionParsing.Positive(parallel);
        container.Validators.Add(r =>
        {
            if (BlobNames.ContainerProblem(r.GetValueOrDefault<string>()) is { } problem)
                r.AddError($"--container: {problem}");
        });
        var command = new Command("upload", "Upload a folder's images to a blob container (what watch, score blob:// and serve --watch read)")
        {
            folder, container, prefix, parallel, quiet,
        };
        var storage = new StorageConnectionOption(command);
        command.Validators.Add(r =>
        {
            if (r.GetValue(folder) is { } dir && !Directory.Exists(dir))
                r.AddError($"folder not found: {dir}");
        });

        command.SetAction(async (parse, ct) =>
        {
            var dir = parse.GetValue(folder)!;
            var name = parse.GetValue(container)!;
            var blobPrefix = parse.GetValue(prefix) ?? "";
            var plan = ImageUploader.Plan(dir, blobPrefix);
            if (plan.SkippedNotImages.Count > 0)
                console.Warn($"skipped {plan.SkippedNotImages.Count} file(s) that are not images by extension (.jpg, .jpeg, .png, ...), e.g. {plan.SkippedNotImages[0]}");
            if (plan.Images.Count == 0)
            {
                console.Warn($"no images found in {dir}; nothing uploaded");
                return CommandTree.Success;
            }
            var badName = plan.Images.Select(i => BlobNames.Problem(i.BlobName)).FirstOrDefault(p => p is not null);
            if (badName is not null)
                throw new CommandFailedException($"cannot upload: {badName}");

            var account = await storage.OpenAsync(parse, ct);
            var uploader = new ImageUploader(account, new ImageUploadOptions { Parallelism = parse.GetValue(parallel) });
            var started = Stopwatch.StartNew();
            UploadResult result;
            using (var progress = new ProgressLine(console.Error, console.ShowProgress && !parse.GetValue(quiet), "img", plan.Images.Count))
                result = await uploader.UploadAsync(name, plan.Images, progress, ct);
            console.Info(string.Create(CultureInfo.InvariantCulture,
                $"uploaded {Service.Local.Counted.Of(result.Uploaded, "image")} ({result.Bytes / 1048576.0:F1} MiB) to blob://{name}/{blobPrefix} in {started.Elapsed.TotalSeconds:F1} s"));
            return CommandTree.Success;
        });
        return command;
    }
}
