using System.CommandLine;
using System.Globalization;
using System.Runtime.CompilerServices;
using ConvNeXt.Batch.Cli.Output;
using ConvNeXt.Batch.Cli.Sources;
using ConvNeXt.Batch.Service.Contracts;
using ConvNeXt.Batch.Service.Services;
using ConvNeXt.Batch.Service.Storage;
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
        var table = new Option<string?>("--table") { Description = "Also upsert one row per image into this table (e.g. Predictions); blobs whose row already holds this version and model are not scored again", HelpName = "NAME" };
        table.Validators.Add(r =>
        {
            if (r.GetValueOrDefault<string?>() is { } name && TableNames.Problem(name) is { } problem)
                r.AddError(problem);
        });
        var container = new Option<string?>("--container") { Description = "Score this blob container instead of a folder", HelpName = "NAME" };
        var prefix = new Option<string?>("--prefix") { Description = "Only blobs whose name starts with PREFIX", HelpName = "PREFIX" };
        var quiet = new Option<bool>("--quiet", "-q") { Description = "No progress bar" };

        var command = new Command("score", "Score every image of a folder or blob container (read → decode → batch → infer → write)")
        {
            source, output, table, container, prefix, quiet,
        };
        var model = new ModelOptions(command, acceptsReference: true);
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
            var tableName = parse.GetValue(table);
            // The output first: a path that cannot be written fails before the model loads.
            await using var fileWriter = parse.GetValue(output) is { } path ? PredictionWriter.Create(path)
                : tableName is null ? PredictionWriter.JsonLines(console.Out) : null;
            // A repository model (--model NAME@VERSION) is verified against its manifest before it loads; its rows
            // go to its own partition and every output record names it.
            Service.Models.ModelManifest? manifest = null;
            ImageClassifier loaded;
            if (model.Reference(parse) is { } reference)
                (loaded, manifest) = await RepositoryModels.LoadAsync(await storage.OpenAsync(parse, ct), reference, model.Inference(parse), console, ct);
            else
                loaded = model.Load(parse, console);
            using var classifier = loaded;
            var stamp = new ModelStamp(manifest?.Reference.ToString() ?? classifier.ModelId, classifier.ModelSha256);
            var quietProgress = parse.GetValue(quiet);

            ScoreSummary summary;
            string where;
            var skipped = new SkippedFiles();
            switch (imageSource)
            {
                case BlobImageSource blobs when tableName is not null:
                    // Rows of a container have one writer, the service ScoreImages runs on: the same
                    // unchanged-blob skip, size limit, deleted-blob rows and retries.
                    where = $"blob://{blobs.Container}/{blobs.Prefix}";
                    summary = await ScoreContainerIntoTableAsync(console, await OpenContainerAsync(storage, parse, blobs, ct), classifier, manifest,
                        pipelineOptions.Scoring(parse), blobs, tableName, fileWriter, quietProgress, ct);
                    break;
                case BlobImageSource blobs:
                    where = $"blob://{blobs.Container}/{blobs.Prefix}";
                    var account = await OpenContainerAsync(storage, parse, blobs, ct);
                    var reader = new BlobImageReader(account, pipelineOptions.Scoring(parse));
                    var blobInputs = Where(blobs.InputsAsync(account, reader, ct), i =>
                    {
                        if (Scoring.Evaluation.LabelledDataset.IsImageFile(i.Id))
                            return true;
                        skipped.Add(i.Id);
                        return false;
                    });
                    summary = await RunAsync(console, new ScoringPipeline(classifier, pipelineOptions.Create(parse, classifier)), blobInputs, null, quietProgress,
                        async (scored, record) =>
                        {
                            // Storage down through every retry is not a fact about the image: fail, do not record it.
                            if (scored.State is BlobWork { StorageFailure: { } failure })
                                throw new CommandFailedException($"blob {blobs.Container}/{scored.Id} could not be read after retries: {CommandTree.OneLine(failure.Message)}", failure);
                            if (fileWriter is not null)
                                await fileWriter.WriteAsync(stamp.On(record), ct);
                        }, ct);
                    break;
                case FolderImageSource folder:
                    where = folder.Folder;
                    var files = folder.Files().ToList();
                    skipped.AddRange(files.Where(p => !Scoring.Evaluation.LabelledDataset.IsImageFile(p)).Select(p => Path.GetRelativePath(folder.Folder, p)));
                    // Rows of a local folder are partitioned by the folder's name, as if it were a container.
                    var folderName = Service.Storage.TableKeys.Escape(new DirectoryInfo(folder.Folder).Name);
                    var partition = PredictionKeys.Partition(folderName, manifest?.Reference);
                    var rows = tableName is null ? null
                        : new PredictionRowWriter(await storage.OpenAsync(parse, ct), tableName);
                    summary = await RunAsync(console, new ScoringPipeline(classifier, pipelineOptions.Create(parse, classifier)),
                        Where(folder.InputsAsync(ct), i => Scoring.Evaluation.LabelledDataset.IsImageFile(i.Id)), files.Count - skipped.Count, quietProgress,
                        async (scored, record) =>
                        {
                            if (fileWriter is not null)
                                await fileWriter.WriteAsync(stamp.On(record), ct);
                            if (rows is not null)
                            {
                                var row = PredictionEntity.From(partition, scored.Id, scored, classifier.ModelId, classifier.ModelSha256);
                                row.ModelName = manifest?.Name;
                                row.ModelVersion = manifest?.Version;
                                row.ExecutionProvider = classifier.ExecutionProvider;
                                await rows.AddAsync(row, ct);
                            }
                        }, ct, rows is null ? null : rows.FlushAsync);
                    break;
                default:
                    throw new InvalidOperationException();
            }

            if (skipped.Count > 0)
                console.Warn($"skipped {skipped.Count} file(s) that are not images by extension (.jpg, .jpeg, .png, ...), e.g. {skipped.First}");
            if (summary.Images + summary.Unchanged == 0)
                console.Warn($"no images found in {where}");
            var destinations = new List<string>();
            if (parse.GetValue(output) is { } written)
                destinations.Add(written);
            else if (fileWriter is not null)
                destinations.Add("standard output");
            if (tableName is not null)
                destinations.Add($"table {tableName}");
            console.Error.WriteLine($"{summary} → {string.Join(" and ", destinations)}");
            return CommandTree.Success;
        });
        return command;
    }

    private static async Task<StorageAccount> OpenContainerAsync(StorageConnectionOption storage, ParseResult parse, BlobImageSource blobs, CancellationToken ct)
    {
        var account = await storage.OpenAsync(parse, ct);
        if (!await account.Resilience.ExecuteAsync(async c => (await account.Container(blobs.Container).ExistsAsync(c)).Value, ct))
            throw new CommandFailedException($"container '{blobs.Container}' does not exist");
        return account;
    }

    /// <summary><c>score blob://… --table NAME</c>: the scoring service writes the rows; the file (if any) gets each row as it lands.</summary>
    private static async Task<ScoreSummary> ScoreContainerIntoTableAsync(CliConsole console, StorageAccount account, ImageClassifier classifier,
        Service.Models.ModelManifest? manifest, ScoringOptions scoring, BlobImageSource blobs, string tableName, PredictionWriter? fileWriter, bool quiet, CancellationToken ct)
    {
        var started = System.Diagnostics.Stopwatch.StartNew();
        using var progress = new ProgressLine(console.Error, console.ShowProgress && !quiet, "img", null);
        // Not disposed here: the caller owns the classifier.
        var engine = manifest is null ? new ScoringEngine(classifier, scoring) : new ScoringEngine(classifier, scoring, manifest);
        var service = new BlobScoringService(account, engine, scoring);
        var result = await service.ScoreContainerAsync(blobs.Container, new ContainerScoringOptions
        {
            Prefix = blobs.Prefix.Length == 0 ? null : blobs.Prefix,
            Table = tableName,
            Progress = counts => progress.Report(counts.Total, counts.Failed),
            RowReady = fileWriter is null ? null : async (row, _) => await fileWriter.WriteAsync(ToRecord(row), ct),
        }, ct);
        return new ScoreSummary(result.Scored + result.Failed, result.Failed, started.Elapsed, result.Skipped);
    }

    private static ScoreRecord ToRecord(PredictionEntity row) =>
        new(row.BlobName, row.TopJson is null ? null : PredictedClass.FromJson(row.TopJson), row.ErrorMessage is null ? null : CommandTree.OneLine(row.ErrorMessage))
        {
            Model = PredictionKeys.Model(row) ?? row.ModelId,
            ModelSha256 = row.ModelSha256,
        };

    /// <summary>What every output record says about the model that scored it.</summary>
    private sealed record ModelStamp(string Model, string Sha256)
    {
        public ScoreRecord On(ScoreRecord record) => record with { Model = Model, ModelSha256 = Sha256 };
    }

    /// <param name="Unchanged">Blobs whose stored row already holds this blob version and model (not scored again).</param>
    internal sealed record ScoreSummary(long Images, long Errors, TimeSpan Elapsed, long Unchanged = 0)
    {
        public double ImagesPerSecond => Images / Math.Max(Elapsed.TotalSeconds, 1e-9);

        public override string ToString() => string.Create(CultureInfo.InvariantCulture,
            $"scored {Images} images ({Errors} errors) in {Elapsed.TotalSeconds:F1} s: {ImagesPerSecond:F1} img/s") +
            (Unchanged > 0 ? $"; {Unchanged} unchanged since they were last scored, not scored again" : "");
    }

    /// <summary>
    /// Drives the pipeline and hands each result to <paramref name="write"/> in input order (the pipeline
    /// finishes images out of order; a result waits only for those before it still in flight, so memory
    /// stays bounded by the pipeline's capacity). Every output format thus lists the same rows in the same order.
    /// </summary>
    internal static async Task<ScoreSummary> RunAsync(CliConsole console, ScoringPipeline pipeline, IAsyncEnumerable<ImageInput> inputs,
        long? total, bool quiet, Func<ScoredImage, ScoreRecord, ValueTask> write, CancellationToken ct, Func<CancellationToken, Task>? flush = null)
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
        try
        {
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
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested && flush is not null)
        {
            await flush(CancellationToken.None); // Ctrl+C keeps what is done
            throw;
        }
        if (flush is not null)
            await flush(ct);
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
