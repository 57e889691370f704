using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using ConvNeXt.Batch.Cli.Sources;
using ConvNeXt.Batch.Scoring.Inference;
using ConvNeXt.Batch.Scoring.Models;
using ConvNeXt.Batch.Scoring.Pipeline;
using ConvNeXt.Batch.Scoring.Preprocessing;
using Spectre.Console;

namespace ConvNeXt.Batch.Cli.Commands;

/// <summary>Batch latency percentiles of the model-only measurement, in milliseconds.</summary>
internal sealed record BenchLatency(double P50, double P95, double P99);

/// <summary>One model at one batch size.</summary>
internal sealed record BenchResult(
    string Model,
    string? Architecture,
    string ExecutionProvider,
    int BatchSize,
    int RequestedBatchSize,
    int Cores,
    int IntraOpThreads,
    int DecodeWorkers,
    int Images,
    double ModelOnlyImgS,
    double ModelOnlyCpuMsPerImage,
    double EndToEndImgS,
    double EndToEndVsModelOnly,
    double PreprocessImgSPerCore,
    int ModelOnlyBatches,
    long EndToEndImages,
    long EndToEndErrors,
    BenchLatency BatchLatencyMs,
    long PeakWorkingSetBytes,
    long GcHeapBytes,
    long GcAllocatedBytes);

/// <summary>
/// A compared model against the first, at one batch size (above 1: faster): throughput ratios, and
/// the ratio of CPU time per image (baseline's over this model's), which a busy machine distorts least.
/// </summary>
internal sealed record BenchRatio(string Model, string Baseline, int BatchSize, double ModelOnly, double EndToEnd, double ModelOnlyCpu);

/// <summary>Where ONNX Runtime spent a model's time, by operator (from its profiler).</summary>
internal sealed record BenchProfile(string Model, string ProfilePath, IReadOnlyList<OperatorTime> Operators);

/// <summary>Everything one <c>bench</c> run measured.</summary>
internal sealed record BenchReport(IReadOnlyList<BenchResult> Runs, IReadOnlyList<BenchRatio> Ratios, IReadOnlyList<BenchProfile> Profiles);

/// <summary>What a <c>bench</c> run measures: the same images, batch sizes and threads for every model.</summary>
internal sealed record BenchSettings
{
    public required IReadOnlyList<string> Files { get; init; }
    public required IReadOnlyList<string> Models { get; init; }
    public required IReadOnlyList<int> BatchSizes { get; init; }
    public int Repeat { get; init; } = 1;
    public int Warmup { get; init; } = 3;
    public int? Iterations { get; init; }
    /// <summary>Times each measurement is repeated, models taking turns; figures are medians.</summary>
    public int Rounds { get; init; } = 1;
    /// <summary>When set, ONNX Runtime profiles every model into this folder and the report sums time by operator.</summary>
    public string? ProfileDirectory { get; init; }
}

/// <summary>
/// <c>bench</c>: model-only throughput (preprocessed tensors, fixed batch), preprocessing throughput
/// on one core, and end-to-end pipeline throughput on real files, at the same batch size in one run;
/// with <c>--compare</c>, the same for further models side by side, and their ratios to the first.
/// </summary>
internal sealed class BenchCommand(CliConsole console, BenchSettings settings, Func<string, ImageClassifier> load,
    Func<ImageClassifier, int, ScoringPipelineOptions> pipelineOptions, int intraOpThreads)
{
    public static Command Create(CliConsole console)
    {
        var images = new Option<string>("--images") { Description = "Folder of images for the preprocessing and end-to-end measurements", Required = true, HelpName = "DIR" };
        images.Validators.Add(r =>
        {
            if (r.GetValueOrDefault<string>() is { } dir && !Directory.Exists(dir))
                r.AddError($"--images: folder not found: {dir}");
        });
        var limit = new Option<int?>("--limit") { Description = "Use at most N images from DIR", HelpName = "N" };
        var repeat = new Option<int>("--repeat") { Description = "Pass over the images this many times end to end", DefaultValueFactory = _ => 1, HelpName = "R" };
        var warmup = new Option<int>("--warmup") { Description = "Untimed model-only batches first", DefaultValueFactory = _ => 3, HelpName = "N" };
        var iterations = new Option<int?>("--iterations") { Description = "Timed model-only batches (default: as many images as the end-to-end pass)", HelpName = "N" };
        var batchSizes = new Option<int[]>("--batch-sizes") { Description = "Sweep several batch sizes (e.g. 1,8,16) and print one row each", HelpName = "N,N,...", CustomParser = ParseSizes };
        var compare = new Option<string[]>("--compare")
        {
            Description = "Further ONNX models measured the same way in the same run (same images, batch sizes, threads); ratios are to --model",
            HelpName = "FILE.onnx",
            AllowMultipleArgumentsPerToken = true,
        };
        compare.Validators.Add(r =>
        {
            foreach (var file in r.GetValueOrDefault<string[]>() ?? [])
                if (!File.Exists(file))
                    r.AddError($"--compare: file not found: {file}");
        });
        var rounds = new Option<int>("--rounds") { Description = "Repeat every measurement R times, models taking turns, and report medians (for shared or noisy machines)", DefaultValueFactory = _ => 1, HelpName = "R" };
        var profile = new Option<string?>("--profile") { Description = "Run ONNX Runtime's profiler, write its JSON into DIR and print time by operator for each model", HelpName = "DIR" };
        var json = new Option<bool>("--json") { Description = "Print JSON instead of a table" };
        OptionParsing.Positive(rounds);
        OptionParsing.Positive(limit);
        OptionParsing.Positive(repeat);
        OptionParsing.Positive(iterations);
        var command = new Command("bench", "Measure model-only, preprocessing and end-to-end throughput, latency percentiles and peak memory")
        {
            images, limit, repeat, warmup, iterations, batchSizes, compare, rounds, profile, json,
        };
        var model = new ModelCommandOptions(command);
        var pipeline = new PipelineOptions(command);

        command.SetAction(async (parse, ct) =>
        {
            var files = new FolderImageSource(Path.GetFullPath(parse.GetValue(images)!)).Files().ToList();
            if (parse.GetValue(limit) is { } max)
                files = files.Take(max).ToList();
            if (files.Count == 0)
                throw new CommandFailedException($"no files in {parse.GetValue(images)}");
            var settings = new BenchSettings
            {
                Files = files,
                Models = [model.ModelPath(parse), .. parse.GetValue(compare) ?? []],
                BatchSizes = parse.GetValue(batchSizes) is { Length: > 0 } sweep ? sweep : [parse.GetValue(pipeline.BatchSize)],
                Repeat = parse.GetValue(repeat),
                Warmup = parse.GetValue(warmup),
                Iterations = parse.GetValue(iterations),
                Rounds = parse.GetValue(rounds),
                ProfileDirectory = parse.GetValue(profile) is { } dir ? Directory.CreateDirectory(dir).FullName : null,
            };
            ImageClassifier Load(string path)
            {
                // Every model gets the same device, threads and preprocessing overrides.
                model.ModelPathOverride = path;
                if (settings.ProfileDirectory is not { } dir)
                    return model.Load(parse, console);
                return ImageClassifier.Load(path,
                    model.Inference(parse) with { Warning = console.Warn, ProfilePrefix = Path.Combine(dir, Path.GetFileNameWithoutExtension(path)) },
                    model.Preprocessing(parse), model.LabelTable(parse));
            }
            var bench = new BenchCommand(console, settings, Load,
                (classifier, batch) => pipeline.Create(parse, classifier) with { BatchSize = batch },
                parse.GetValue(model.Threads) ?? Environment.ProcessorCount);
            var report = await bench.RunAsync(ct);
            if (parse.GetValue(json))
                console.Out.WriteLine(ToJson(report));
            else
                WriteTable(console, report);
            return CommandTree.Success;
        });
        return command;
    }

    private static readonly JsonSerializerOptions JsonOptions = new(JsonSerializerDefaults.Web)
    {
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        WriteIndented = true,
    };

    /// <summary>One model at one batch size prints as that result's object; anything more as runs + ratios.</summary>
    internal static string ToJson(BenchReport report) => report.Runs.Count == 1 && report.Profiles.Count == 0
        ? JsonSerializer.Serialize(report.Runs[0], JsonOptions)
        : JsonSerializer.Serialize(report, JsonOptions);

    public async Task<BenchReport> RunAsync(CancellationToken ct)
    {
        var encoded = settings.Files.Select(File.ReadAllBytes).ToList();
        var models = new List<(ImageClassifier Classifier, List<float[]> Tensors, double PerCore)>();
        try
        {
            foreach (var path in settings.Models)
            {
                var classifier = load(path);
                models.Add((classifier, [], 0));
                var (tensors, perCore) = Preprocess(classifier.Preprocessing, encoded);
                models[^1] = (classifier, tensors, perCore);
            }
            var runs = new List<BenchResult>();
            foreach (var requested in settings.BatchSizes)
                runs.AddRange(await MeasureAsync(models, requested, ct));
            var ratios = new List<BenchRatio>();
            foreach (var run in runs.Where(r => r.Model != runs[0].Model))
            {
                var baseline = runs.First(b => b.Model == runs[0].Model && b.RequestedBatchSize == run.RequestedBatchSize);
                ratios.Add(new BenchRatio(run.Model, baseline.Model, run.RequestedBatchSize,
                    Math.Round(run.ModelOnlyImgS / baseline.ModelOnlyImgS, 3), Math.Round(run.EndToEndImgS / baseline.EndToEndImgS, 3),
                    Math.Round(baseline.ModelOnlyCpuMsPerImage / run.ModelOnlyCpuMsPerImage, 3)));
            }
            var profiles = new List<BenchProfile>();
            if (settings.ProfileDirectory is not null)
                foreach (var (classifier, _, _) in models)
                {
                    var path = classifier.EndProfiling();
                    profiles.Add(new BenchProfile(classifier.ModelId, path, OperatorProfile.Summarize(path)));
                }
            return new BenchReport(runs, ratios, profiles);
        }
        finally
        {
            foreach (var model in models)
                model.Classifier.Dispose();
        }
    }

    /// <summary>Decode + resize + crop + normalize on one core, sequentially: the tensors for model-only runs and the rate.</summary>
    private static (List<float[]> Tensors, double PerCore) Preprocess(PreprocessingSettings preprocessing, List<byte[]> encoded)
    {
        var preprocessor = new ImagePreprocessor(preprocessing);
        var tensors = new List<float[]>();
        var clock = Stopwatch.StartNew();
        foreach (var bytes in encoded)
        {
            var tensor = new float[preprocessing.TensorLength];
            try
            {
                preprocessor.Preprocess(bytes, tensor);
                tensors.Add(tensor);
            }
            catch (ImageRejectedException)
            {
                // Counted by the end-to-end pass as error rows; model-only needs only decodable images.
            }
        }
        if (tensors.Count == 0)
            throw new CommandFailedException("none of the images could be decoded");
        return (tensors, tensors.Count / clock.Elapsed.TotalSeconds);
    }

    /// <summary>
    /// Every model at one batch size. With several models and rounds, the models take turns
    /// (A, B, A, B, …) and each figure is the median over its rounds, so a load that comes and goes
    /// on a shared machine falls on all of them alike.
    /// </summary>
    private async Task<List<BenchResult>> MeasureAsync(List<(ImageClassifier Classifier, List<float[]> Tensors, double PerCore)> models, int requested, CancellationToken ct)
    {
        var batches = new int[models.Count];
        var inputs = new float[models.Count][];
        var outputs = new float[models.Count][];
        for (var m = 0; m < models.Count; m++)
        {
            var (classifier, tensors, _) = models[m];
            var batch = batches[m] = classifier.FixedBatchSize ?? requested;
            if (batch != requested)
                console.Warn($"{classifier.ModelId} has a fixed batch size of {batch}: --batch-size {requested} cannot apply, measuring batch {batch}");
            var length = classifier.TensorLength;
            inputs[m] = new float[batch * length];
            for (var i = 0; i < batch; i++)
                tensors[i % tensors.Count].CopyTo(inputs[m], i * length);
            outputs[m] = new float[batch * classifier.ClassCount];
            for (var i = 0; i < settings.Warmup; i++)
                classifier.Predict(inputs[m], batch, outputs[m]);
        }

        var iterations = batches.Select(b => settings.Iterations ?? Math.Max(4, (settings.Files.Count * settings.Repeat + b - 1) / b)).ToArray();
        var modelOnly = models.Select(_ => new List<double>()).ToArray();
        var cpuPerImage = models.Select(_ => new List<double>()).ToArray();
        using var self = Process.GetCurrentProcess();
        var latencies = models.Select(_ => new List<double>()).ToArray();
        for (var round = 0; round < settings.Rounds; round++)
            for (var m = 0; m < models.Count; m++)
            {
                // Model only: a fixed batch of real preprocessed tensors, timed batch by batch.
                // Process CPU time counts the work, not the waiting for a core (ORT threads do not spin).
                self.Refresh();
                var cpuBefore = self.TotalProcessorTime;
                var clock = Stopwatch.StartNew();
                for (var i = 0; i < iterations[m]; i++)
                {
                    ct.ThrowIfCancellationRequested();
                    var start = Stopwatch.GetTimestamp();
                    models[m].Classifier.Predict(inputs[m], batches[m], outputs[m]);
                    latencies[m].Add(Stopwatch.GetElapsedTime(start).TotalMilliseconds);
                }
                modelOnly[m].Add(iterations[m] * batches[m] / clock.Elapsed.TotalSeconds);
                self.Refresh();
                cpuPerImage[m].Add((self.TotalProcessorTime - cpuBefore).TotalMilliseconds / (iterations[m] * batches[m]));
            }

        var endToEnd = models.Select(_ => new List<double>()).ToArray();
        var scored = new long[models.Count];
        var errors = new long[models.Count];
        var options = new ScoringPipelineOptions[models.Count];
        for (var round = 0; round < settings.Rounds; round++)
            for (var m = 0; m < models.Count; m++)
            {
                // End to end: the scoring pipeline over the files (bytes read from disk each time).
                options[m] = pipelineOptions(models[m].Classifier, batches[m]);
                var pipeline = new ScoringPipeline(models[m].Classifier, options[m]);
                var clock = Stopwatch.StartNew();
                long count = 0, failed = 0;
                await foreach (var result in pipeline.RunAsync(Inputs(settings.Files, settings.Repeat), ct))
                {
                    count++;
                    if (result.Error is not null)
                        failed++;
                }
                endToEnd[m].Add(count / clock.Elapsed.TotalSeconds);
                (scored[m], errors[m]) = (count, failed);
            }

        using var process = Process.GetCurrentProcess();
        process.Refresh();
        var results = new List<BenchResult>();
        for (var m = 0; m < models.Count; m++)
        {
            var (classifier, _, perCore) = models[m];
            latencies[m].Sort();
            var (mo, e2e) = (Median(modelOnly[m]), Median(endToEnd[m]));
            results.Add(new BenchResult(
                classifier.ModelId, classifier.Metadata.Architecture, classifier.ExecutionProvider, batches[m], requested,
                Environment.ProcessorCount, intraOpThreads, options[m].DecodeWorkers, settings.Files.Count,
                Math.Round(mo, 2), Math.Round(Median(cpuPerImage[m]), 1), Math.Round(e2e, 2), Math.Round(e2e / mo, 3), Math.Round(perCore, 2),
                iterations[m] * settings.Rounds, scored[m], errors[m],
                new BenchLatency(Math.Round(Percentile(latencies[m], 0.50), 2), Math.Round(Percentile(latencies[m], 0.95), 2), Math.Round(Percentile(latencies[m], 0.99), 2)),
                process.PeakWorkingSet64, GC.GetGCMemoryInfo().HeapSizeBytes, GC.GetTotalAllocatedBytes()));
        }
        return results;
    }

    private static double Median(List<double> values)
    {
        var sorted = values.Order().ToList();
        return Percentile(sorted, 0.5);
    }

    private static async IAsyncEnumerable<ImageInput> Inputs(IReadOnlyList<string> files, int repeats)
    {
        await Task.Yield();
        for (var r = 0; r < repeats; r++)
            foreach (var file in files)
                yield return new ImageInput(r == 0 ? file : $"{file}#{r}", async ct => await File.ReadAllBytesAsync(file, ct));
    }

    private static int[]? ParseSizes(System.CommandLine.Parsing.ArgumentResult result)
    {
        var sizes = new List<int>();
        foreach (var part in string.Join(',', result.Tokens.Select(t => t.Value)).Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            if (!int.TryParse(part, NumberStyles.None, CultureInfo.InvariantCulture, out var n) || n <= 0)
            {
                result.AddError($"--batch-sizes: '{part}' is not a positive integer");
                return null;
            }
            sizes.Add(n);
        }
        return [.. sizes];
    }

    internal static double Percentile(List<double> sorted, double p)
    {
        if (sorted.Count == 0)
            return double.NaN;
        var rank = p * (sorted.Count - 1);
        var low = (int)Math.Floor(rank);
        var high = (int)Math.Ceiling(rank);
        return sorted[low] + (sorted[high] - sorted[low]) * (rank - low);
    }

    private static string F(double value, string format = "0.##") => value.ToString(format, CultureInfo.InvariantCulture);

    private static void WriteTable(CliConsole console, BenchReport report)
    {
        if (report.Runs.Count == 1)
        {
            WriteSingle(console, report.Runs[0]);
            WriteProfiles(console, report);
            return;
        }
        var first = report.Runs[0];
        var table = new Table
        {
            Border = TableBorder.Rounded,
            Title = new TableTitle(Markup.Escape($"{first.ExecutionProvider}, {first.Cores} cores, {first.IntraOpThreads} ORT threads, {first.DecodeWorkers} decode workers, {first.Images} images")),
        };
        table.AddColumn("model");
        foreach (var header in new[] { "batch", "model only img/s", "CPU ms/img", "end to end img/s", "e2e / model", "p50 ms", "p95 ms", "p99 ms", "peak MiB" })
            table.AddColumn(new TableColumn(header).RightAligned());
        foreach (var r in report.Runs)
            table.AddRow(Markup.Escape(r.Model), $"{r.BatchSize}", F(r.ModelOnlyImgS), F(r.ModelOnlyCpuMsPerImage, "0.0"), F(r.EndToEndImgS), F(r.EndToEndVsModelOnly, "0.###"),
                F(r.BatchLatencyMs.P50), F(r.BatchLatencyMs.P95), F(r.BatchLatencyMs.P99), F(r.PeakWorkingSetBytes / 1048576.0, "0"));
        console.Tables.Write(table);
        foreach (var model in report.Runs.Select(r => r.Model).Distinct())
            console.Out.WriteLine($"preprocessing, one core ({model}): {F(report.Runs.First(r => r.Model == model).PreprocessImgSPerCore)} img/s");
        foreach (var ratio in report.Ratios)
            console.Out.WriteLine($"{ratio.Model} / {ratio.Baseline} at batch {ratio.BatchSize}: model only {F(ratio.ModelOnly, "0.00")}x, end to end {F(ratio.EndToEnd, "0.00")}x, CPU time per image {F(ratio.ModelOnlyCpu, "0.00")}x less");
        WriteProfiles(console, report);
    }

    private static void WriteProfiles(CliConsole console, BenchReport report)
    {
        foreach (var profile in report.Profiles)
        {
            var table = new Table { Border = TableBorder.Rounded, Title = new TableTitle(Markup.Escape($"{profile.Model}: ONNX Runtime time by operator ({profile.ProfilePath})")) };
            table.AddColumn("operator");
            foreach (var header in new[] { "nodes", "calls", "ms", "share" })
                table.AddColumn(new TableColumn(header).RightAligned());
            foreach (var o in profile.Operators)
                table.AddRow(Markup.Escape(o.Operator), $"{o.Nodes}", $"{o.Calls}", F(o.Milliseconds, "0"), F(o.Share * 100, "0.0") + " %");
            console.Tables.Write(table);
        }
    }

    private static void WriteSingle(CliConsole console, BenchResult r)
    {
        var table = new Table { Border = TableBorder.Rounded, Title = new TableTitle("convnext-batch bench") };
        table.AddColumn("measure").AddColumn(new TableColumn("value").RightAligned());
        table.AddRow("model", Markup.Escape(r.Model));
        table.AddRow("execution provider", Markup.Escape(r.ExecutionProvider));
        table.AddRow("batch size", $"{r.BatchSize}");
        table.AddRow("cores", $"{r.Cores}");
        table.AddRow("model only", F(r.ModelOnlyImgS) + " img/s");
        table.AddRow("model only, CPU time per image", F(r.ModelOnlyCpuMsPerImage, "0.0") + " ms");
        table.AddRow("end to end (pipeline)", F(r.EndToEndImgS) + " img/s");
        table.AddRow("end to end / model only", F(r.EndToEndVsModelOnly, "0.###"));
        table.AddRow("preprocessing, one core", F(r.PreprocessImgSPerCore) + " img/s");
        table.AddRow("batch latency p50 / p95 / p99", $"{F(r.BatchLatencyMs.P50)} / {F(r.BatchLatencyMs.P95)} / {F(r.BatchLatencyMs.P99)} ms");
        table.AddRow("peak working set", F(r.PeakWorkingSetBytes / 1048576.0, "0") + " MiB");
        table.AddRow("end-to-end images (errors)", $"{r.EndToEndImages} ({r.EndToEndErrors})");
        console.Tables.Write(table);
    }
}
