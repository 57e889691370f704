using System.CommandLine;
using System.Globalization;
using ConvNeXt.Batch.Service.Contracts;
using ConvNeXt.Batch.Service.Queries;
using ConvNeXt.Batch.Service.Services;
using ConvNeXt.Batch.Service.Storage;
using ConvNeXt.Batch.Service.Validation;
using ConvNeXt.Batch.Scoring.Labels;
using NetVips;

namespace ConvNeXt.Batch.Cli.Commands;

/// <summary>
/// <c>demo</c>: the quick-start job against a storage account (Azurite from scripts/quickstart.sh):
/// model → upload images to <c>images</c> → score into <c>Predictions</c> (the ScoreImages service)
/// → a validation run (the validation service) → print the predictions and the run's metrics.
/// </summary>
internal static class DemoCommand
{
    public const string WeightsEnvironmentVariable = "CONVNEXT_WEIGHTS";

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
        var command = new Command("demo", "Quick-start job: build the default model, upload sample images, score them into Predictions, run a validation run, print the results")
        {
            images, count, all, workDir, weights,
        };
        var model = new ModelOptions(command, modelRequired: false);
        var pipelineOptions = new PipelineOptions(command);
        var storage = new StorageConnectionOption(command);

        command.SetAction(async (parse, ct) =>
        {
            var work = parse.GetValue(workDir) ?? Directory.CreateTempSubdirectory("convnext-demo-").FullName;
            Directory.CreateDirectory(work);
            var samples = parse.GetValue(images) ?? FindSharedSamples();
            var labelsFile = samples is null ? null : FindLabelsBeside(samples);

            // 1. The model.
            if (parse.GetValue(model.Model) is null)
            {
                var path = Path.Combine(work, "convnext_tiny.onnx");
                var weightsFile = parse.GetValue(weights) ?? FetchedTinyWeights();
                var labels = labelsFile is null ? null : ClassLabels.Load(labelsFile);
                Step(console, weightsFile is null ? "building convnext_tiny with seeded random weights" : $"building convnext_tiny from {weightsFile}");
                if (weightsFile is null)
                    Banner(console);
                ModelBuilding.Build(new ModelBuildRequest { Architecture = "tiny", WeightsPath = weightsFile, Labels = labels, OutputPath = path }, console);
                model.ModelPathOverride = path;
            }
            var classifier = model.Load(parse, console);
            using var engine = new ScoringEngine(classifier, pipelineOptions.Scoring(parse));
            var account = await storage.OpenAsync(parse, ct);
            await account.EnsureTablesAsync(ct);

            // 2. Images into the drop zone.
            var files = samples is not null && Directory.Exists(samples)
                ? Directory.EnumerateFiles(samples).Where(Scoring.Evaluation.LabelledDataset.IsImageFile).Order(StringComparer.Ordinal).ToList()
                : [];
            if (!parse.GetValue(all))
                files = Spread(files, parse.GetValue(count));
            var imagesContainer = account.Container(ContainerNames.Images);
            var validationContainer = account.Container(ContainerNames.Validation);
            await imagesContainer.CreateIfNotExistsAsync(cancellationToken: ct);
            await validationContainer.CreateIfNotExistsAsync(cancellationToken: ct);
            if (files.Count > 0)
            {
                Step(console, $"uploading {files.Count} images from {samples} to blob://{ContainerNames.Images} and blob://{ContainerNames.Validation}/samples/");
                await Parallel.ForEachAsync(files, new ParallelOptions { MaxDegreeOfParallelism = 8, CancellationToken = ct }, async (file, c) =>
                {
                    await imagesContainer.GetBlobClient(Path.GetFileName(file)).UploadAsync(file, overwrite: true, c);
                    await validationContainer.GetBlobClient("samples/" + Path.GetFileName(file)).UploadAsync(file, overwrite: true, c);
                });
            }
            else
            {
                var generated = parse.GetValue(all) ? 64 : parse.GetValue(count);
                Step(console, $"no sample folder found: uploading {generated} generated images (named after random ImageNet classes)");
                var labels = classifier.Labels;
                for (var i = 0; i < generated; i++)
                {
                    var wnid = labels is null ? $"class{i % 1000:D4}" : labels[(i * 37) % labels.Count].Wnid;
                    var bytes = BinaryData.FromBytes(Generate(i));
                    await imagesContainer.GetBlobClient($"{wnid}_generated_{i:D3}.jpg").UploadAsync(bytes, overwrite: true, ct);
                    await validationContainer.GetBlobClient($"samples/{wnid}_generated_{i:D3}.jpg").UploadAsync(bytes, overwrite: true, ct);
                }
            }

            // 3. Score the drop zone, exactly as the ScoreImages function does.
            var quiet = !console.ErrorIsTerminal;
            Step(console, $"scoring blob://{ContainerNames.Images} into table {TableNames.Predictions}");
            var scoring = await ScoreImagesAsync(console, account, engine, pipelineOptions.Scoring(parse), quiet, ct);
            console.Info($"{scoring} → table {TableNames.Predictions}");

            // 4. A validation run over the same images, labels from their <wnid>_ names, chunk by chunk as Service Bus would deliver them.
            Step(console, $"validation run over blob://{ContainerNames.Validation}/samples/ (labels from the file names)");
            var report = await ValidateAsync(console, account, engine, pipelineOptions.Scoring(parse), quiet, ct);
            console.Info(string.Create(CultureInfo.InvariantCulture,
                $"validation run {report.Run.RunId}: {report.Run.ImageCount} images, top-1 {report.Run.Top1 * 100:F1} %, top-5 {report.Run.Top5 * 100:F1} %"));

            // 5. What a user would look at next.
            var connection = storage.Configured(parse) is { } cs ? new[] { "--connection-string", cs } : [];
            Step(console, $"{CliInvocation.Command} results predictions --container images --top 20");
            await CommandTree.InvokeAsync(["results", "predictions", "--container", ContainerNames.Images, "--top", "20", .. connection], console, ct);
            Step(console, $"{CliInvocation.Command} results run {report.Run.RunId}");
            string[] labelArgs = labelsFile is null ? [] : ["--labels", labelsFile];
            await CommandTree.InvokeAsync(["results", "run", report.Run.RunId, .. connection, .. labelArgs], console, ct);
            if (classifier.Metadata.Trained == false)
                Banner(console);
            if (storage.Configured(parse) is null || storage.Configured(parse)!.Contains("127.0.0.1", StringComparison.Ordinal))
                console.Out.WriteLine("\nThe results live in Azurite: an in-memory Azurite (as scripts/quickstart.sh starts it) forgets them when it stops.");
            return CommandTree.Success;
        });
        return command;
    }

    private static async Task<ScoreCommand.ScoreSummary> ScoreImagesAsync(CliConsole console, StorageAccount account, ScoringEngine engine,
        ScoringOptions options, bool quiet, CancellationToken ct)
    {
        var clock = System.Diagnostics.Stopwatch.StartNew();
        var blobs = new List<BlobReference>();
        await foreach (var item in account.Container(ContainerNames.Images).GetBlobsAsync(cancellationToken: ct))
            blobs.Add(new BlobReference(ContainerNames.Images, item.Name, item.Properties.ETag?.ToString(), item.Properties.ContentLength));
        var service = new BlobScoringService(account, engine, options);
        long done = 0, failed = 0;
        using var progress = new Output.ProgressLine(console.Error, !quiet, "img", blobs.Count);
        // Slices of a few batches, so the progress line moves; each slice is one ScoreImages-sized call.
        foreach (var slice in blobs.Chunk(Math.Max(options.BatchSize * 2, 16)))
        {
            var result = await service.ScoreAsync(slice, ct);
            done += result.Outcomes.Count;
            failed += result.Failed;
            progress.Report(done, failed);
        }
        return new ScoreCommand.ScoreSummary(done, failed, clock.Elapsed);
    }

    private static async Task<ValidationRunReport> ValidateAsync(CliConsole console, StorageAccount account, ScoringEngine engine, ScoringOptions scoring,
        bool quiet, CancellationToken ct)
    {
        var service = new ValidationRunService(account, engine, new BlobImageReader(account, scoring), new ValidationOptions { ChunkSize = 32 }, new ValidationDefaultsOptions());
        var plan = await service.CreateRunAsync(new ValidationRunRequest { Container = ContainerNames.Validation, Prefix = "samples/", Labels = "names" }, "local", ct);
        using (var progress = new Output.ProgressLine(console.Error, !quiet, "img", plan.Run.ExpectedImageCount))
        {
            long done = 0, failed = 0;
            foreach (var chunk in plan.Chunks)
            {
                var outcome = await service.ScoreChunkAsync(chunk, "local", ct);
                done += outcome.Scored + outcome.Failed;
                failed += outcome.Failed;
                progress.Report(done, failed);
            }
        }
        return await new ValidationQueries(account).GetRunAsync(plan.Run.RunId, ct, await engine.GetLabelsAsync(ct))
            ?? throw new CommandFailedException($"validation run {plan.Run.RunId} vanished");
    }

    private static void Step(CliConsole console, string text) => console.Out.WriteLine($"\n==> {text}");

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
        var candidate = Path.Combine(Path.GetDirectoryName(Path.GetFullPath(samples).TrimEnd('/'))!, "imagenet-labels", "LOC_synset_mapping.txt");
        return File.Exists(candidate) ? candidate : null;
    }

    private static string? FetchedTinyWeights()
    {
        var cache = OptionParsing.Environment(ModelCommands.CacheEnvironmentVariable)
            ?? Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".cache", "convnext-batch");
        return Fetching.PublishedWeightsCatalog.All
            .Where(w => w.Variant == "tiny")
            .Select(w => Path.Combine(cache, w.FileName))
            .FirstOrDefault(File.Exists);
    }

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
