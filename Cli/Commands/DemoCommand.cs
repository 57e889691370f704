using System.CommandLine;
using System.Globalization;
using ConvNeXt.Batch.Cli.Output;
using ConvNeXt.Batch.Service.Contracts;
using ConvNeXt.Batch.Service.Local;
using ConvNeXt.Batch.Service.Queries;
using ConvNeXt.Batch.Service.Services;
using ConvNeXt.Batch.Service.Storage;
using ConvNeXt.Batch.Service.Uploads;
using ConvNeXt.Batch.Service.Validation;
using ConvNeXt.Batch.Scoring.Labels;
using NetVips;

using Microsoft.Extensions.DependencyInjection;

namespace ConvNeXt.Batch.Cli.Commands;

/// <summary>What <c>demo</c> is asked to do.</summary>
internal sealed record DemoSettings
{
    /// <summary>Folder of sample images; <c>null</c> (or empty): generated images.</summary>
    public string? Samples { get; init; }
    /// <summary>How many of them (spread over the folder); <c>null</c>: all.</summary>
    public int? Count { get; init; } = 64;
    /// <summary>Where generated images (and the built model) are written.</summary>
    public required string WorkDirectory { get; init; }
    /// <summary>Class table that names the classes in the printed results (beside the samples).</summary>
    public string? LabelsFile { get; init; }
    /// <summary>Validation chunk size (a run of 64 images: two chunks, as Service Bus would deliver them).</summary>
    public int ChunkSize { get; init; } = 32;
}

/// <summary>The images the demo put into storage: how many, and from where (<c>null</c>: generated).</summary>
internal sealed record DemoUpload(int Images, string? From);

/// <summary>What one <c>demo</c> run did: the upload, the scoring of the drop zone, the validation run.</summary>
internal sealed record DemoResult(DemoUpload Upload, ScoreSummary Scoring, ValidationRunReport Validation);

/// <summary>
/// <c>demo</c>: the quick-start job against a storage account (Azurite from scripts/quickstart.sh):
/// model → upload images to <c>images</c> and <c>validation/samples/</c> → score the drop zone into
/// <c>Predictions</c> (the ScoreImages service) → a validation run (the validation service) → print the
/// predictions and the run's metrics, as <c>results</c> shows them.
/// </summary>
internal sealed class DemoCommand(CliConsole console, Quickstart job, ScoringEngine engine, DemoSettings settings)
{
    public const string WeightsEnvironmentVariable = "CONVNEXT_WEIGHTS";
    internal const string SamplesPrefix = Quickstart.SamplesPrefix;

    public static Command Create(CliConsole console)
    {
        var images = new Option<string?>("--images") { Description = "Folder of sample images (default: ../shared/data/imagenet-samples beside the repository, else generated images)", HelpName = "DIR" };
        var count = new Option<int>("--count") { Description = "How many images to use", DefaultValueFactory = _ => 64, HelpName = "N" };
        var all = new Option<bool>("--all") { Description = "Use every image of the folder" };
        var workDir = new Option<string?>("--work-dir") { Description = "Where the model is built (default: a temporary folder)", HelpName = "DIR" };
        var weights = new Option<string?>("--weights")
        {
            Description = $"Published convnext_tiny weights file (default: ${WeightsEnvironmentVariable}, else a previously fetched file, else random weights)",
            HelpName = "FILE",
            DefaultValueFactory = _ => OptionParsing.Environment(WeightsEnvironmentVariable),
        };
        OptionParsing.Positive(count);
        OptionParsing.ExistingFile(weights);
        images.Validators.Add(r =>
        {
            if (r.GetValueOrDefault<string?>() is { } dir && !Directory.Exists(dir))
                r.AddError($"--images: folder not found: {dir}");
        });
        var command = new Command("demo", "Quick-start job: build the default model, upload sample images, score them into Predictions, run a validation run, print the results")
        {
            images, count, all, workDir, weights,
        };
        var model = new ModelCommandOptions(command, modelRequired: false);
        var pipelineOptions = new PipelineOptions(command);
        var storage = new StorageConnectionOption(command);
        var localAzurite = new LocalAzuriteOption(command, storage);

        command.SetAction(async (parse, ct) =>
        {
            var work = parse.GetValue(workDir) ?? Directory.CreateTempSubdirectory("convnext-demo-").FullName;
            Directory.CreateDirectory(work);
            var samples = parse.GetValue(images) ?? FindSharedSamples();
            var settings = new DemoSettings
            {
                Samples = samples,
                Count = parse.GetValue(all) ? null : parse.GetValue(count),
                WorkDirectory = work,
                LabelsFile = parse.GetValue(model.Labels) ?? (samples is null ? null : FindLabelsBeside(samples)),
            };

            if (parse.GetValue(model.Model) is null)
                model.ModelPathOverride = BuildDefaultModel(console, settings, parse.GetValue(weights) ?? FetchedTinyWeights());
            // The validation run maps the wnids in the file names to classes: a model without a class table
            // (SqueezeNet) takes the one beside the samples, or --labels.
            ClassLabels? classTable = null;
            if (parse.GetValue(model.Labels) is null && Scoring.Onnx.OnnxModelInfo.Read(model.ModelPath(parse)).Metadata.Labels is null)
                classTable = settings.LabelsFile is { } beside ? ClassLabels.Load(beside)
                    : throw new UsageException("the model carries no class labels, which the demo's validation run needs: give --labels LOC_synset_mapping.txt");
            var classifier = model.Load(parse, console, classTable);
            // Stopped when the demo ends; its data folder keeps the results for `serve` (which starts it over the same folder).
            await using var azurite = await localAzurite.StartIfNeededAsync(parse, console, ct);
            var account = await storage.OpenAsync(parse, ct);
            var serviceSettings = pipelineOptions.Settings(parse);
            serviceSettings["Validation:ChunkSize"] = CommandServices.Setting(settings.ChunkSize);
            // The provider's engine owns (and disposes) the classifier.
            await using var services = CommandServices.Build(account, storage.Resolve(parse), serviceSettings, classifier);
            var engine = services.GetRequiredService<ScoringEngine>();
            var job = new Quickstart(account, services.GetRequiredService<ImageUploader>(), services.GetRequiredService<BlobScoringService>(),
                services.GetRequiredService<ValidationRunService>(), services.GetRequiredService<ValidationQueries>(),
                new QuickstartOptions { BlobsPerCall = Math.Max(services.GetRequiredService<ScoringOptions>().BatchSize * 2, 16) });
            var demo = new DemoCommand(console, job, engine, settings);
            var result = await demo.RunAsync(ct);
            string[] connection = (storage.Configured(parse) ?? storage.Started) is { } cs ? ["--connection-string", cs] : [];
            await demo.ShowAsync(result, connection, ct);
            if (classifier.Metadata.Trained == false)
                Banner(console);
            if (azurite is not null)
                console.Out.WriteLine($"\nThe results are kept in {azurite.Process.Location}: {CliInvocation.Command} serve starts Azurite over the same folder and shows them "
                    + "(give it the same --azurite-data if you gave one; docs/cli.md).");
            else if (storage.Configured(parse) is not { } configured || configured.Contains("127.0.0.1", StringComparison.Ordinal))
                console.Out.WriteLine($"\nThe results live in Azurite: an in-memory Azurite (as scripts/quickstart.sh starts it) forgets them when it stops. "
                    + $"To keep the product running locally: {CliInvocation.Command} serve (docs/cli.md).");
            return CommandTree.Success;
        });
        return command;
    }

    /// <summary>Upload, score, validate: the job, with a summary line after each step.</summary>
    public async Task<DemoResult> RunAsync(CancellationToken ct)
    {
        var upload = await UploadAsync(ct);

        Step($"scoring blob://{ContainerNames.Images} into table {TableNames.Predictions}");
        ScoreSummary summary;
        using (var progress = new ProgressLine(console.Error, console.ShowProgress, "img", null, "scoring"))
            summary = await job.ScoreDropZoneAsync(p => Report(progress, p), ct);
        // The same summary line as score's.
        console.Info($"{summary} → table {TableNames.Predictions}");

        Step($"validation run over blob://{ContainerNames.Validation}/{SamplesPrefix} (labels from the file names)");
        ValidationRunReport report;
        using (var progress = new ProgressLine(console.Error, console.ShowProgress, "img", null, "validating"))
            report = await job.ValidateSamplesAsync(await engine.GetLabelsAsync(ct), p => Report(progress, p), ct);
        console.Info(string.Create(CultureInfo.InvariantCulture,
            $"validation run {report.Run.RunId}: {report.Run.ImageCount} images, top-1 {report.Run.Top1 * 100:F1} %, top-5 {report.Run.Top5 * 100:F1} %"));
        return new DemoResult(upload, summary, report);
    }

    /// <summary>The sample images (or generated ones) into the drop zone <c>images</c> and into <c>validation/samples/</c>.</summary>
    internal async Task<DemoUpload> UploadAsync(CancellationToken ct)
    {
        var files = settings.Samples is { } folder && Directory.Exists(folder)
            ? Directory.EnumerateFiles(folder).Where(Scoring.Evaluation.LabelledDataset.IsImageFile).Order(StringComparer.Ordinal).ToList()
            : [];
        if (settings.Count is { } count)
            files = Spread(files, count);
        var from = files.Count > 0 ? settings.Samples : null;
        if (files.Count == 0)
        {
            var generated = settings.Count ?? 64;
            Step($"no sample images found: uploading {generated} generated images (named after random ImageNet classes)");
            files = await GenerateAsync(generated, ct);
        }
        else
        {
            Step($"uploading {files.Count} images from {from} to blob://{ContainerNames.Images} and blob://{ContainerNames.Validation}/{SamplesPrefix}");
        }
        using var progress = new ProgressLine(console.Error, console.ShowProgress, "img", files.Count * 2, "uploading");
        await job.UploadAsync(files, progress, ct);
        return new DemoUpload(files.Count, from);
    }

    private static void Report(ProgressLine progress, ScoreProgress counts)
    {
        progress.SetTotal(counts.Total);
        progress.Report(counts.Done, counts.Errors);
    }

    /// <summary>What a user would look at next, printed by the commands that show it (so the printed command lines work).</summary>
    private async Task ShowAsync(DemoResult result, string[] connection, CancellationToken ct)
    {
        Step($"{CliInvocation.Command} results predictions --container {ContainerNames.Images} --top 20");
        await CommandTree.InvokeAsync(["results", "predictions", "--container", ContainerNames.Images, "--top", "20", .. connection], console, ct);
        // "Most confused" names the classes: from the table beside the samples, else from the run's own predictions.
        string[] labels = settings.LabelsFile is { } file ? ["--labels", file] : [];
        var runId = result.Validation.Run.RunId;
        Step($"{CliInvocation.Command} results run {runId}{(labels.Length > 0 ? " --labels " + labels[1] : "")}");
        await CommandTree.InvokeAsync(["results", "run", runId, .. connection, .. labels], console, ct);
    }

    private void Step(string text) => console.Out.WriteLine($"\n==> {text}");

    /// <summary>convnext_tiny in the work folder: from published weights when there are some, else seeded random ones (with the banner).</summary>
    private static string BuildDefaultModel(CliConsole console, DemoSettings settings, string? weightsFile)
    {
        var path = Path.Combine(settings.WorkDirectory, "convnext_tiny.onnx");
        var labels = settings.LabelsFile is null ? null : ClassLabels.Load(settings.LabelsFile);
        console.Out.WriteLine($"\n==> {(weightsFile is null ? "building convnext_tiny with seeded random weights" : $"building convnext_tiny from {weightsFile}")}");
        if (weightsFile is null)
            Banner(console);
        ModelBuilding.Build(new ModelBuildRequest { Architecture = "tiny", WeightsPath = weightsFile, Labels = labels, OutputPath = path }, console);
        return path;
    }

    private static void Banner(CliConsole console)
    {
        string[] lines =
        [
            "UNTRAINED WEIGHTS: convnext_tiny has seeded random weights.",
            "Its predictions are meaningless. For real predictions:",
            $"  {WeightsEnvironmentVariable}=<convnext_tiny .safetensors or .ckpt> scripts/quickstart.sh,",
            $"  or '{CliInvocation.Command} model fetch tiny' once (needs the internet),",
            "  or scripts/quickstart.sh --model <SqueezeNet> with its options (docs/cli.md).",
        ];
        var width = lines.Max(l => l.Length) + 6;
        console.Out.WriteLine(new string('!', width));
        foreach (var line in lines)
            console.Out.WriteLine("!! " + line.PadRight(width - 6) + " !!");
        console.Out.WriteLine(new string('!', width));
    }

    /// <summary>Synthetic JPEGs in the work folder, named <c>&lt;wnid&gt;_generated_NNN.jpg</c> so that a validation run reads labels from the names.</summary>
    private async Task<List<string>> GenerateAsync(int count, CancellationToken ct)
    {
        var folder = Directory.CreateDirectory(Path.Combine(settings.WorkDirectory, "generated")).FullName;
        var labels = (await engine.GetClassifierAsync(ct)).Labels;
        var files = new List<string>(count);
        for (var i = 0; i < count; i++)
        {
            var wnid = labels is null ? $"class{i % 1000:D4}" : labels[(i * 37) % labels.Count].Wnid;
            var path = Path.Combine(folder, $"{wnid}_generated_{i:D3}.jpg");
            await File.WriteAllBytesAsync(path, Generate(i), ct);
            files.Add(path);
        }
        return files;
    }

    /// <summary>Every n-th file, so that a subset still spans many classes.</summary>
    private static List<string> Spread(List<string> files, int count)
    {
        if (files.Count <= count)
            return files;
        var step = (double)files.Count / count;
        return Enumerable.Range(0, count).Select(i => files[(int)(i * step)]).ToList();
    }

    private static string? FindSharedSamples()
    {
        foreach (var start in new[] { Directory.GetCurrentDirectory(), AppContext.BaseDirectory })
            for (var dir = new DirectoryInfo(start); dir is not null; dir = dir.Parent)
            {
                var candidate = Path.Combine(dir.FullName, "shared", "data", "imagenet-samples");
                if (Directory.Exists(candidate))
                    return candidate;
            }
        return null;
    }

    private static string? FindLabelsBeside(string samples)
    {
        var candidate = Path.Combine(Path.GetDirectoryName(Path.GetFullPath(samples).TrimEnd('/'))!, "imagenet-labels", LabelFiles.ClassTableFileName);
        return File.Exists(candidate) ? candidate : null;
    }

    /// <summary>Weights <c>model fetch tiny</c> left in the weights cache, if any.</summary>
    private static string? FetchedTinyWeights() =>
        Fetching.PublishedWeightsCatalog.All
            .Where(w => w.Model == "convnext_tiny")
            .Select(w => Fetching.WeightsCache.PathOf(w))
            .FirstOrDefault(File.Exists);

    /// <summary>A smooth synthetic photo-sized JPEG, different for each seed.</summary>
    internal static byte[] Generate(int seed)
    {
        using var xyz = Image.Xyz(320, 240);
        using var x = xyz[0];
        using var y = xyz[1];
        using var r = x * (255.0 / 320) * ((seed % 3) + 1) % 256;
        using var g = y * (255.0 / 240) * ((seed % 5) + 1) % 256;
        using var b = (x + y) * ((seed % 7) + 1) % 256;
        using var rgb = r.Bandjoin(g, b);
        using var bytes = rgb.Cast(Enums.BandFormat.Uchar);
        return bytes.JpegsaveBuffer(q: 85);
    }
}
