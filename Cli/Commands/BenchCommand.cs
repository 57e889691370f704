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
        var iterations = new Option<int>("--iterations") { Description = "Timed model-only batches", DefaultValueFactory = _ => 20, HelpName = "N" };
        var json = new Option<bool>("--json") { Description = "Print JSON instead of a table" };
        OptionParsing.Positive(limit);
        OptionParsing.Positive(repeat);
        OptionParsing.Positive(iterations);
        var command = new Command("bench", "Measure model-only, preprocessing and end-to-end throughput, latency percentiles and peak memory")
        {
            images, limit, repeat, warmup, iterations, json,
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
            var options = pipelineOptions.Create(parse, classifier);
            var batch = options.BatchSize;
            var settings = classifier.Preprocessing;
            var length = settings.TensorLength;
            var encoded = files.Select(File.ReadAllBytes).ToList();

            // 1. Preprocessing on one core: decode + resize + crop + normalize, sequentially.
            var preprocessor = new ImagePreprocessor(settings);
            var tensors = new List<float[]>();
            var prepClock = Stopwatch.StartNew();
            var prepared = 0;
            foreach (var bytes in encoded)
            {
                var tensor = new float[length];
                try
                {
                    preprocessor.Preprocess(bytes, tensor);
                    tensors.Add(tensor);
                    prepared++;
                }
                catch (ImageRejectedException)
                {
                }
            }
            var prepPerCore = prepared / prepClock.Elapsed.TotalSeconds;
            if (tensors.Count == 0)
                throw new CommandFailedException("none of the images could be decoded");

            // 2. Model only: a fixed batch of real preprocessed tensors, warm-up, then timed batches.
            var input = new float[batch * length];
            for (var i = 0; i < batch; i++)
                tensors[i % tensors.Count].CopyTo(input, i * length);
            for (var i = 0; i < parse.GetValue(warmup); i++)
                classifier.Predict(input, batch);
            var latencies = new List<double>();
            var modelClock = Stopwatch.StartNew();
            for (var i = 0; i < parse.GetValue(iterations); i++)
            {
                ct.ThrowIfCancellationRequested();
                var start = Stopwatch.GetTimestamp();
                classifier.Predict(input, batch);
                latencies.Add(Stopwatch.GetElapsedTime(start).TotalMilliseconds);
            }
            var modelOnly = parse.GetValue(iterations) * batch / modelClock.Elapsed.TotalSeconds;
            tensors.Clear();

            // 3. End to end: the scoring pipeline over the files (bytes read from disk each time).
            var pipeline = new ScoringPipeline(classifier, options);
            var repeats = parse.GetValue(repeat);
            var e2eClock = Stopwatch.StartNew();
            long scored = 0, errors = 0;
            await foreach (var result in pipeline.RunAsync(Inputs(files, repeats), ct))
            {
                scored++;
                if (result.Error is not null)
                    errors++;
            }
            var endToEnd = scored / e2eClock.Elapsed.TotalSeconds;

            using var process = Process.GetCurrentProcess();
            process.Refresh();
            latencies.Sort();
            var report = new JsonObject
            {
                ["model"] = classifier.ModelId,
                ["execution_provider"] = classifier.ExecutionProvider,
                ["batch_size"] = batch,
                ["cores"] = Environment.ProcessorCount,
                ["images"] = files.Count,
                ["model_only_img_s"] = Math.Round(modelOnly, 2),
                ["end_to_end_img_s"] = Math.Round(endToEnd, 2),
                ["end_to_end_vs_model_only"] = Math.Round(endToEnd / modelOnly, 3),
                ["preprocess_img_s_per_core"] = Math.Round(prepPerCore, 2),
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
            };
            if (parse.GetValue(json))
                console.Out.WriteLine(report.ToJsonString(new JsonSerializerOptions { WriteIndented = true }));
            else
                WriteTable(console, report);
            return CommandTree.Success;
        });
        return command;
    }

    private static async IAsyncEnumerable<ImageInput> Inputs(List<string> files, int repeats)
    {
        await Task.Yield();
        for (var r = 0; r < repeats; r++)
            foreach (var file in files)
                yield return new ImageInput(r == 0 ? file : $"{file}#{r}", async ct => await File.ReadAllBytesAsync(file, ct));
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
