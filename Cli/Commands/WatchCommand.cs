using System.CommandLine;
using System.Globalization;
using ConvNeXt.Batch.Service.Services;
using ConvNeXt.Batch.Cli.Serving;
using Microsoft.Extensions.DependencyInjection;

namespace ConvNeXt.Batch.Cli.Commands;

/// <summary>
/// <c>watch --container NAME</c>: the local stand-in for Event Grid → Service Bus → ScoreImages.
/// Polls the container listing and hands it to the same <see cref="BlobScoringService"/> the
/// function uses, which skips blobs whose Predictions row already holds the same ETag (and model),
/// until Ctrl+C.
/// </summary>
internal static class WatchCommand
{
    public static Command Create(CliConsole console)
    {
        var container = new Option<string>("--container") { Description = "Container to watch", DefaultValueFactory = _ => "images", HelpName = "NAME" };
        var prefix = new Option<string?>("--prefix") { Description = "Only blobs whose name starts with PREFIX", HelpName = "PREFIX" };
        var interval = new Option<double>("--interval") { Description = "Seconds between listings", DefaultValueFactory = _ => 5, HelpName = "SECONDS" };
        interval.Validators.Add(r =>
        {
            if (r.GetValueOrDefault<double>() is var s && (s <= 0 || !double.IsFinite(s)))
                r.AddError("--interval must be a positive number of seconds");
        });
        var once = new Option<bool>("--once") { Description = "One pass over the container, then exit" };
        var command = new Command("watch", "Score blobs into Predictions as they appear (poll the listing; skip blobs already scored at the same ETag)")
        {
            container, prefix, interval, once,
        };
        var model = new ModelCommandOptions(command);
        var pipelineOptions = new PipelineOptions(command);
        var storage = new StorageConnectionOption(command);

        command.SetAction(async (parse, ct) =>
        {
            var account = await storage.OpenAsync(parse, ct);
            var containerName = parse.GetValue(container)!;
            var blobs = account.Container(containerName);
            if (!await account.Resilience.ExecuteAsync(async c => (await blobs.ExistsAsync(c)).Value, ct))
            {
                if (parse.GetValue(once))
                {
                    // Nothing to score, and creating the container would hide the typo.
                    console.Warn($"container '{containerName}' does not exist: nothing scored (check --container, or create it with '{CliInvocation.Command} upload')");
                    return CommandTree.Success;
                }
                await account.Resilience.ExecuteAsync(async c => await blobs.CreateIfNotExistsAsync(cancellationToken: c), ct);
                console.Warn($"container '{containerName}' did not exist: created it; waiting for blobs");
            }
            var classifier = model.Load(parse, console);
            await using var services = CommandServices.Build(account, storage.Resolve(parse), pipelineOptions.Settings(parse), classifier);
            var watcher = new ContainerWatcher(services.GetRequiredService<BlobScoringService>(), containerName, parse.GetValue(prefix));

            try
            {
                if (parse.GetValue(once))
                {
                    var pass = await watcher.PassAsync(ct);
                    console.Info(pass.Describe());
                    if (pass.Scored + pass.Failed + pass.Skipped == 0)
                        console.Warn($"no blobs in blob://{containerName}/{parse.GetValue(prefix)}");
                    return CommandTree.Success;
                }
                console.Info(string.Create(CultureInfo.InvariantCulture,
                    $"watching blob://{containerName}/{parse.GetValue(prefix)} every {parse.GetValue(interval)} s (Ctrl+C to stop)"));
                await watcher.RunAsync(TimeSpan.FromSeconds(parse.GetValue(interval)), pass => console.Info(pass.Describe()), ct);
            }
            catch (OperationCanceledException) when (ct.IsCancellationRequested)
            {
                console.Info("stopped");
            }
            return CommandTree.Success;
        });
        return command;
    }
}
