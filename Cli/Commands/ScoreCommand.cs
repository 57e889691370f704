using System.CommandLine;
using System.Globalization;
using System.Runtime.CompilerServices;
using ConvNeXt.Batch.Cli.Output;
using ConvNeXt.Batch.Cli.Sinks;
using ConvNeXt.Batch.Cli.Sources;
using ConvNeXt.Batch.Scoring.Inference;
using ConvNeXt.Batch.Scoring.Pipeline;

namespace ConvNeXt.Batch.Cli.Commands;

/// <summary>Pipeline knobs shared by score, bench and watch.</summary>
internal sealed class PipelineOptions
{
    public Option<int> BatchSize { get; } = new("--batch-size") { Description = "Images per inference batch", DefaultValueFactory = _ => 16, HelpName = "N" };
    public Option<int> MaxWaitMilliseconds { get; } = new("--max-wait-ms") { Description = "Longest a partial batch waits for more images", DefaultValueFactory = _ => 50, HelpName = "MS" };
    public Option<int?> DecodeWorkers { get; } = new("--decode-workers") { Description = "Parallel decode/preprocess workers (default: cores)", HelpName = "N" };

    public PipelineOptions(Command command)
    {
        OptionParsing.Positive(BatchSize);
        OptionParsing.Positive(DecodeWorkers);
        MaxWaitMilliseconds.Validators.Add(r =>
        {
            if (r.GetValueOrDefault<int>() < 0)
                r.AddError("--max-wait-ms must not be negative");
        });
        command.Options.Add(BatchSize);
        command.Options.Add(MaxWaitMilliseconds);
        command.Options.Add(DecodeWorkers);
    }

    /// <summary>The same knobs for the storage services (watch, recorded validation).</summary>
    public Service.Services.ScoringOptions Scoring(ParseResult parse) => new()
    {
        BatchSize = parse.GetValue(BatchSize),
        MaxWaitMilliseconds = parse.GetValue(MaxWaitMilliseconds),
        DecodeWorkers = parse.GetValue(DecodeWorkers) ?? Environment.ProcessorCount,
    };

    public ScoringPipelineOptions Create(ParseResult parse, ImageClassifier classifier)
    {
        var batch = parse.GetValue(BatchSize);
        if (classifier.FixedBatchSize is { } fixedBatch && fixedBatch != batch)
            batch = fixedBatch; // e.g. SqueezeNet's [1,3,224,224]: the model decides
        return new ScoringPipelineOptions
        {
            BatchSize = batch,
            MaxWait = TimeSpan.FromMilliseconds(parse.GetValue(MaxWaitMilliseconds)),
            DecodeWorkers = parse.GetValue(DecodeWorkers) ?? Environment.ProcessorCount,
            TopK = 5,
        };
    }
}

/// <summary><c>score SOURCE</c>: every image of a folder or container → one record each.</summary>
internal static class ScoreCommand
{
    public static Command Create(CliConsole console)
    {
        var source = new Argument<string?>("SOURCE") { Description = "Folder, or blob://container[/prefix]", Arity = ArgumentArity.ZeroOrOne };
        var output = new Option<string?>("--output", "-o") { Description = "Write records to FILE (.jsonl, .csv or .parquet); default: JSON lines on standard output unless --table", HelpName = "FILE" };
        output.Validators.Add(r =>
        {
            if (r.GetValueOrDefault<string?>() is { } path && Path.GetExtension(path).ToLowerInvariant() is not (".jsonl" or ".ndjson" or ".json" or ".csv" or ".parquet"))
                r.AddError($"--output must end in .jsonl, .csv or .parquet (got '{path}')");
        });
        OptionParsing.WritableFile(output);
        var table = new Option<string?>("--table") { Description = "Also upsert one row per image into this table (e.g. Predictions)", HelpName = "NAME" };
        var container = new Option<string?>("--container") { Description = "Score this blob container instead of a folder", HelpName = "NAME" };
        var prefix = new Option<string?>("--prefix") { Description = "Only blobs whose name starts with PREFIX", HelpName = "PREFIX" };
        var quiet = new Option<bool>("--quiet", "-q") { Description = "No progress bar" };

        var command = new Command("score", "Score every image of a folder or blob container (read → decode → batch → infer → write)")
        {
            source, output, table, container, prefix, quiet,
        };
        var model = new ModelOptions(command);
        var pipelineOptions = new PipelineOptions(command);
        var storage = new StorageConnectionOption(command);
        command.Validators.Add(r =>
        {
            var value = r.GetValue(source);
            if (value is null && r.GetValue(container) is null)
                r.AddError("give a SOURCE folder, blob://container, or --container NAME");
            else if (value is not null && r.GetValue(container) is not null)
                r.AddError("give either SOURCE or --container, not both");
            else if (value is not null && !value.StartsWith("blob://", StringComparison.OrdinalIgnoreCase) && !Directory.Exists(value))
                r.AddError($"folder not found: {value}");
        });

        command.SetAction(async (parse, ct) =>
        {
            var imageSource = ImageSource.Parse(parse.GetValue(source) ?? "", parse.GetValue(container), parse.GetValue(prefix));
            // The output first: a path that cannot be written fails before the model loads.
            await using var fileWriter = parse.GetValue(output) is { } path ? PredictionWriter.Create(path)
                : parse.GetValue(table) is null ? PredictionWriter.JsonLines(console.Out) : null;
            using var classifier = model.Load(parse, console);
            var pipeline = new ScoringPipeline(classifier, pipelineOptions.Create(parse, classifier));

            await using var tableSink = parse.GetValue(table) is { } tableName
                ? await PredictionTableSink.CreateAsync(ResultsCommand.Account(storage, parse), tableName, classifier, ct)
                : null;

            IAsyncEnumerable<ImageInput> inputs;
            long? total = null;
            string where;
            // Rows of a local folder are partitioned by the folder's name, as if it were a container.
            var containerName = imageSource is FolderImageSource f ? Service.Storage.TableKeys.Escape(new DirectoryInfo(f.Folder).Name) : "";
            var skipped = new SkippedFiles();
            switch (imageSource)
            {
                case FolderImageSource folder:
                    var files = folder.Files().ToList();
                    skipped.AddRange(files.Where(p => !Scoring.Evaluation.LabelledDataset.IsImageFile(p)).Select(p => Path.GetRelativePath(folder.Folder, p)));
                    total = files.Count - skipped.Count;
                    inputs = Where(folder.InputsAsync(ct), i => Scoring.Evaluation.LabelledDataset.IsImageFile(i.Id));
                    where = folder.Folder;
                    break;
                case BlobImageSource blobs:
                    containerName = blobs.Container;
                    var client = (await storage.OpenAsync(parse, ct)).Container(blobs.Container);
                    if (!await client.ExistsAsync(ct))
                        throw new CommandFailedException($"container '{blobs.Container}' does not exist");
                    inputs = Where(Select(blobs.InputsAsync(client, ct), p => p.Input), i =>
                    {
                        if (Scoring.Evaluation.LabelledDataset.IsImageFile(i.Id))
                            return true;
                        skipped.Add(i.Id);
                        return false;
                    });
                    where = $"blob://{blobs.Container}/{blobs.Prefix}";
                    break;
                default:
                    throw new InvalidOperationException();
            }

            var summary = await RunAsync(console, pipeline, inputs, total, parse.GetValue(quiet), async (scored, record) =>
            {
                if (fileWriter is not null)
                    await fileWriter.WriteAsync(record, ct);
                if (tableSink is not null)
                    await tableSink.WriteAsync(containerName, scored, ct);
            }, ct);
            if (skipped.Count > 0)
                console.Warn($"skipped {skipped.Count} file(s) that are not images by extension (.jpg, .jpeg, .png, ...), e.g. {skipped.First}");
            if (summary.Images == 0)
                console.Warn($"no images found in {where}");
            var destinations = new List<string>();
            if (parse.GetValue(output) is { } written)
                destinations.Add(written);
            else if (fileWriter is not null)
                destinations.Add("standard output");
            if (parse.GetValue(table) is { } t)
                destinations.Add($"table {t}");
            console.Error.WriteLine($"{summary} → {string.Join(" and ", destinations)}");
            return CommandTree.Success;
        });
        return command;
    }

    internal sealed record ScoreSummary(long Images, long Errors, TimeSpan Elapsed)
    {
        public double ImagesPerSecond => Images / Math.Max(Elapsed.TotalSeconds, 1e-9);

        public override string ToString() => string.Create(CultureInfo.InvariantCulture,
            $"scored {Images} images ({Errors} errors) in {Elapsed.TotalSeconds:F1} s: {ImagesPerSecond:F1} img/s");
    }

    /// <summary>
    /// Drives the pipeline and hands each result to <paramref name="write"/> in input order (the pipeline
    /// finishes images out of order; a result waits only for those before it still in flight, so memory
    /// stays bounded by the pipeline's capacity). Every output format thus lists the same rows in the same order.
    /// </summary>
    internal static async Task<ScoreSummary> RunAsync(CliConsole console, ScoringPipeline pipeline, IAsyncEnumerable<ImageInput> inputs,
        long? total, bool quiet, Func<ScoredImage, ScoreRecord, ValueTask> write, CancellationToken ct)
    {
        var started = System.Diagnostics.Stopwatch.StartNew();
        long count = 0, errors = 0, next = 0, read = 0;
        var sequence = new Dictionary<string, long>(StringComparer.Ordinal);
        var waiting = new SortedDictionary<long, ScoredImage>();
        var numbered = Select(inputs, input =>
        {
            // A running number, not sequence.Count: finished images leave the map, and a reused number
            // would park an image until the end (the order then depended on how fast images finished).
            lock (sequence)
                sequence[input.Id] = read++;
            return input;
        }, ct);
        using (var progress = new ProgressLine(console.Error, console.ShowProgress && !quiet, "img", total))
        {
            await foreach (var scored in pipeline.RunAsync(numbered, ct))
            {
                count++;
                if (scored.Error is not null)
                    errors++;
                long position;
                lock (sequence)
                    sequence.Remove(scored.Id, out position);
                waiting[position] = scored;
                while (waiting.Remove(next, out var ready))
                {
                    await write(ready, PredictionFormatting.ToRecord(ready));
                    next++;
                }
                progress.Report(count, errors);
            }
            // Ids seen twice (never for folders or containers) would leave gaps: flush what remains in order.
            foreach (var ready in waiting.Values)
                await write(ready, PredictionFormatting.ToRecord(ready));
        }
        return new ScoreSummary(count, errors, started.Elapsed);
    }

    internal static async IAsyncEnumerable<T> Where<T>(IAsyncEnumerable<T> source, Func<T, bool> keep,
        [EnumeratorCancellation] CancellationToken ct = default)
    {
        await foreach (var item in source.WithCancellation(ct))
            if (keep(item))
                yield return item;
    }

    /// <summary>Inputs left out of a run, counted for one warning at the end.</summary>
    private sealed class SkippedFiles
    {
        private readonly Lock _gate = new();
        public int Count { get; private set; }
        public string? First { get; private set; }

        public void Add(string name)
        {
            lock (_gate)
            {
                First ??= name;
                Count++;
            }
        }

        public void AddRange(IEnumerable<string> names)
        {
            foreach (var name in names)
                Add(name);
        }
    }

    internal static async IAsyncEnumerable<TOut> Select<TIn, TOut>(IAsyncEnumerable<TIn> source, Func<TIn, TOut> map,
        [EnumeratorCancellation] CancellationToken ct = default)
    {
        await foreach (var item in source.WithCancellation(ct))
            yield return map(item);
    }
}
