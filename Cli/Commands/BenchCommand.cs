using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using ConvNeXt.Batch.Cli.Sources;
using ConvNeXt.Batch.Scoring.Benchmarking;
using ConvNeXt.Batch.Scoring.Inference;
using ConvNeXt.Batch.Scoring.Pipeline;
using Spectre.Console;

namespace ConvNeXt.Batch.Cli.Commands;

/// <summary>
/// <c>bench</c>: declares the options of a <see cref="ThroughputBenchmark"/> (model-only, preprocessing
/// and end-to-end throughput at the same batch size; with <c>--compare</c>, further models side by side
/// and their ratios to the first) and prints its report as a table or JSON.
/// </summary>
internal static class BenchCommand
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
            var settings = new ThroughputBenchmarkOptions
            {
                Files = files,
                Models = [model.ModelPath(parse), .. parse.GetValue(compare) ?? []],
                BatchSizes = parse.GetValue(batchSizes) is { Length: > 0 } sweep ? sweep : [parse.GetValue(pipeline.BatchSize)],
                Repeat = parse.GetValue(repeat),
                Warmup = parse.GetValue(warmup),
                Iterations = parse.GetValue(iterations),
                Rounds = parse.GetValue(rounds),
                IntraOpThreads = parse.GetValue(model.Threads) ?? Environment.ProcessorCount,
                ProfileDirectory = parse.GetValue(profile) is { } dir ? Directory.CreateDirectory(dir).FullName : null,
            };
            // Every model gets the same device, threads and preprocessing overrides.
            ImageClassifier Load(string path) => settings.ProfileDirectory is not { } dir
                ? model.Load(parse, console, modelPath: path)
                : ImageClassifier.Load(path,
                    model.Inference(parse) with { Warning = console.Warn, ProfilePrefix = Path.Combine(dir, Path.GetFileNameWithoutExtension(path)) },
                    model.Preprocessing(parse), model.LabelTable(parse));
            var benchmark = new ThroughputBenchmark(settings, Load,
                (classifier, batch) => pipeline.Create(parse, classifier) with { BatchSize = batch }, console.Warn);
            var report = await benchmark.RunAsync(ct);
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
