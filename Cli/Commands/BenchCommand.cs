using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using ConvNeXt.Batch.Cli.Sources;
using ConvNeXt.Batch.Scoring.Pipeline;
using ConvNeXt.Batch.Scoring.Preprocessing;
using Spectre.Console;

namespace ConvNeXt.Batch.Cli.Commands;

/// <summary>
/// <c>bench</c>: model-only throughput (preprocessed tensors, fixed batch), preprocessing throughput
/// on one core, and end-to-end pipeline throughput on real files, at the same batch size in one run.
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
        var json = new Option<bool>("--json") { Description = "Print JSON instead of a table" };
        OptionParsing.Positive(limit);
        OptionParsing.Positive(repeat);
        OptionParsing.Positive(iterations);
        var command = new Command("bench", "Measure model-only, preprocessing and end-to-end throughput, latency percentiles and peak memory")
        {
            images, limit, repeat, warmup, iterations, batchSizes, json,
        };
        var model = new ModelOptions(command);
        var pipelineOptions = new PipelineOptions(command);

        command.SetAction(async (parse, ct) =>
        {
            var files = new FolderImageSource(Path.GetFullPath(parse.GetValue(images)!)).Files().ToList();
            if (parse.GetValue(limit) is { } max)
                files = files.Take(max).ToList();
            if (files.Count == 0)
                throw new CommandFailedException($"no files in {parse.GetValue(images)}");

            using var classifier = model.Load(parse, console);
            var settings = classifier.Preprocessing;
            var length = settings.TensorLength;
            var encoded = files.Select(File.ReadAllBytes).ToList();

            // Preprocessing on one core: decode + resize + crop + normalize, sequentially.
            var preprocessor = new ImagePreprocessor(settings);
            var tensors = new List<float[]>();
            var prepClock = Stopwatch.StartNew();
            foreach (var bytes in encoded)
            {
                var tensor = new float[length];
                try
                {
                    preprocessor.Preprocess(bytes, tensor);
                    tensors.Add(tensor);
                }
                catch (ImageRejectedException)
                {
                }
            }
            var prepPerCore = tensors.Count / prepClock.Elapsed.TotalSeconds;
            if (tensors.Count == 0)
                throw new CommandFailedException("none of the images could be decoded");

            var sizes = parse.GetValue(batchSizes) is { Length: > 0 } sweep ? sweep : [parse.GetValue(pipelineOptions.BatchSize)];
            var reports = new List<JsonObject>();
            foreach (var size in sizes)
            {
                var options = pipelineOptions.Create(parse, classifier) with { BatchSize = classifier.FixedBatchSize ?? size };
                var batch = options.BatchSize;

                // Model only: a fixed batch of real preprocessed tensors, warm-up, then timed batches.
                var input = new float[batch * length];
                for (var i = 0; i < batch; i++)
                    tensors[i % tensors.Count].CopyTo(input, i * length);
                for (var i = 0; i < parse.GetValue(warmup); i++)
                    classifier.Predict(input, batch);
                var latencies = new List<double>();
                var iterationCount = parse.GetValue(iterations) ?? Math.Max(4, (files.Count * parse.GetValue(repeat) + batch - 1) / batch);
                var modelClock = Stopwatch.StartNew();
                for (var i = 0; i < iterationCount; i++)
                {
                    ct.ThrowIfCancellationRequested();
                    var start = Stopwatch.GetTimestamp();
                    classifier.Predict(input, batch);
                    latencies.Add(Stopwatch.GetElapsedTime(start).TotalMilliseconds);
                }
                var modelOnly = iterationCount * batch / modelClock.Elapsed.TotalSeconds;

                // End to end: the scoring pipeline over the files (bytes read from disk each time).
                var pipeline = new ScoringPipeline(classifier, options);
                var e2eClock = Stopwatch.StartNew();
                long scored = 0, errors = 0;
                await foreach (var result in pipeline.RunAsync(Inputs(files, parse.GetValue(repeat)), ct))
                {
                    scored++;
                    if (result.Error is not null)
                        errors++;
                }
                var endToEnd = scored / e2eClock.Elapsed.TotalSeconds;

                using var process = Process.GetCurrentProcess();
                process.Refresh();
                latencies.Sort();
                reports.Add(new JsonObject
                {
                    ["model"] = classifier.ModelId,
                    ["execution_provider"] = classifier.ExecutionProvider,
                    ["batch_size"] = batch,
                    ["cores"] = Environment.ProcessorCount,
                    ["intra_op_threads"] = parse.GetValue(model.Threads) ?? Environment.ProcessorCount,
                    ["decode_workers"] = options.DecodeWorkers,
                    ["images"] = files.Count,
                    ["model_only_img_s"] = Math.Round(modelOnly, 2),
                    ["end_to_end_img_s"] = Math.Round(endToEnd, 2),
                    ["end_to_end_vs_model_only"] = Math.Round(endToEnd / modelOnly, 3),
                    ["preprocess_img_s_per_core"] = Math.Round(prepPerCore, 2),
                    ["model_only_batches"] = iterationCount,
                    ["end_to_end_images"] = scored,
                    ["end_to_end_errors"] = errors,
                    ["batch_latency_ms"] = new JsonObject
                    {
                        ["p50"] = Math.Round(Percentile(latencies, 0.50), 2),
                        ["p95"] = Math.Round(Percentile(latencies, 0.95), 2),
                        ["p99"] = Math.Round(Percentile(latencies, 0.99), 2),
                    },
                    ["peak_working_set_bytes"] = process.PeakWorkingSet64,
                    ["gc_heap_bytes"] = GC.GetGCMemoryInfo().HeapSizeBytes,
                    ["gc_allocated_bytes"] = GC.GetTotalAllocatedBytes(),
                });
            }

            var indented = new JsonSerializerOptions { WriteIndented = true };
            if (parse.GetValue(json))
                console.Out.WriteLine(reports.Count == 1 ? reports[0].ToJsonString(indented) : new JsonObject { ["runs"] = new JsonArray([.. reports]) }.ToJsonString(indented));
            else if (reports.Count == 1)
                WriteTable(console, reports[0]);
            else
                WriteSweep(console, reports);
            return CommandTree.Success;
        });
        return command;
    }

    private static void WriteSweep(CliConsole console, List<JsonObject> reports)
    {
        var first = reports[0];
        var table = new Table
        {
            Border = TableBorder.Rounded,
            Title = new TableTitle(Markup.Escape($"{first["model"]} on {first["execution_provider"]}, {first["cores"]} cores, {first["intra_op_threads"]} ORT threads, {first["decode_workers"]} decode workers")),
        };
        foreach (var header in new[] { "batch", "model only img/s", "end to end img/s", "e2e / model", "p50 ms", "p95 ms", "p99 ms", "peak MiB" })
            table.AddColumn(new TableColumn(header).RightAligned());
        foreach (var r in reports)
        {
            var l = r["batch_latency_ms"]!.AsObject();
            table.AddRow($"{r["batch_size"]}", $"{r["model_only_img_s"]}", $"{r["end_to_end_img_s"]}", $"{r["end_to_end_vs_model_only"]}",
                $"{l["p50"]}", $"{l["p95"]}", $"{l["p99"]}",
                string.Create(CultureInfo.InvariantCulture, $"{(long)r["peak_working_set_bytes"]! / 1048576.0:F0}"));
        }
        console.Tables.Write(table);
        console.Out.WriteLine(string.Create(CultureInfo.InvariantCulture, $"preprocessing, one core: {first["preprocess_img_s_per_core"]} img/s"));
    }

    private static async IAsyncEnumerable<ImageInput> Inputs(List<string> files, int repeats)
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

    private static void WriteTable(CliConsole console, JsonObject report)
    {
        var table = new Table { Border = TableBorder.Rounded, Title = new TableTitle("convnext-batch bench") };
        table.AddColumn("measure").AddColumn(new TableColumn("value").RightAligned());
        string F(string key, string unit = "") => string.Create(CultureInfo.InvariantCulture, $"{report[key]}{unit}");
        var latency = report["batch_latency_ms"]!.AsObject();
        table.AddRow("model", Markup.Escape(F("model")));
        table.AddRow("execution provider", Markup.Escape(F("execution_provider")));
        table.AddRow("batch size", F("batch_size"));
        table.AddRow("cores", F("cores"));
        table.AddRow("model only", F("model_only_img_s", " img/s"));
        table.AddRow("end to end (pipeline)", F("end_to_end_img_s", " img/s"));
        table.AddRow("end to end / model only", F("end_to_end_vs_model_only"));
        table.AddRow("preprocessing, one core", F("preprocess_img_s_per_core", " img/s"));
        table.AddRow("batch latency p50 / p95 / p99", $"{latency["p50"]} / {latency["p95"]} / {latency["p99"]} ms");
        table.AddRow("peak working set", string.Create(CultureInfo.InvariantCulture, $"{(long)report["peak_working_set_bytes"]! / 1048576.0:F0} MiB"));
        table.AddRow("end-to-end images (errors)", $"{report["end_to_end_images"]} ({report["end_to_end_errors"]})");
        console.Tables.Write(table);
    }
}
