using System.Diagnostics;
using System.Runtime.CompilerServices;
using ConvNeXt.Batch.Service.Contracts;
using ConvNeXt.Batch.Service.Services;
using ConvNeXt.Batch.Service.Storage;
using ConvNeXt.Batch.Scoring.Evaluation;
using ConvNeXt.Batch.Scoring.Pipeline;

namespace ConvNeXt.Batch.Service.Local;

/// <summary>
/// Scores every image of a local folder or a blob container, once: each result goes to
/// <see cref="LocalScoreRunOptions.RowReady"/> and, with <see cref="LocalScoreRunOptions.Table"/>, into a table.
/// A container scored into a table goes through <see cref="BlobScoringService"/> (the one writer of a
/// container's rows: the unchanged-blob skip, size limit, deleted-blob rows and retries). Files and
/// blobs that are not images by extension are left out and counted.
/// </summary>
/// <param name="storage">The account of the container or table; <c>null</c> for a folder scored without a table.</param>
public sealed class LocalScoreRun(ScoringEngine engine, LocalScoreRunOptions options, StorageAccount? storage = null, BlobScoringService? containerScoring = null)
{
    /// <summary>
    /// Scores <paramref name="files"/> of <paramref name="folder"/>, each named by its path relative to
    /// the folder; table rows are partitioned by the folder's name, as if it were a container.
    /// </summary>
    public async Task<ScoreSummary> ScoreFilesAsync(string folder, IReadOnlyList<string> files, CancellationToken cancellationToken = default)
    {
        var notImages = new NotImages();
        foreach (var file in files.Where(f => !LabelledDataset.IsImageFile(f)))
            notImages.Add(Path.GetRelativePath(folder, file));
        var images = files.Where(LabelledDataset.IsImageFile).ToList();
        var classifier = await engine.GetClassifierAsync(cancellationToken);
        var partition = PredictionKeys.Partition(TableKeys.Escape(new DirectoryInfo(folder).Name), options.Model);
        var rows = options.Table is { } table ? new PredictionRowWriter(Storage(), table) : null;
        var summary = await RunAsync(FileInputs(folder, images), images.Count, async (scored, ct) =>
        {
            if (options.RowReady is { } ready)
                await ready(ToRow(scored), ct);
            if (rows is not null)
            {
                var row = PredictionEntity.From(partition, scored.Id, scored, classifier.ModelId, classifier.ModelSha256);
                row.ModelName = options.Model?.Name;
                row.ModelVersion = options.Model?.Version;
                row.ExecutionProvider = classifier.ExecutionProvider;
                await rows.AddAsync(row, ct);
            }
        }, rows is null ? null : rows.FlushAsync, cancellationToken);
        return notImages.AddTo(summary);
    }

    /// <summary>Scores every blob of <paramref name="container"/> whose name starts with <paramref name="prefix"/>.</summary>
    /// <exception cref="StorageUnavailableException">A blob could not be read through every retry (transient: nothing is recorded for it).</exception>
    public async Task<ScoreSummary> ScoreContainerAsync(string container, string prefix, CancellationToken cancellationToken = default)
    {
        var account = Storage();
        if (options.Table is { } table)
            return await ScoreContainerIntoTableAsync(account, container, prefix, table, cancellationToken);
        var reader = new BlobImageReader(account, options.Scoring);
        var notImages = new NotImages();
        var inputs = BlobListing.ListAsync(account, container, prefix, cancellationToken)
            .Where(blob =>
            {
                if (LabelledDataset.IsImageFile(blob.Name))
                    return true;
                notImages.Add(blob.Name);
                return false;
            })
            .Select(blob =>
            {
                var work = new BlobWork(blob);
                return new ImageInput(blob.Name, ct => reader.ReadAsync(work, ct)) { State = work };
            });
        var summary = await RunAsync(inputs, null, async (scored, ct) =>
        {
            // Storage down through every retry is not a fact about the image: fail, do not record it.
            if (scored.State is BlobWork { StorageFailure: { } failure })
                throw new StorageUnavailableException($"blob {container}/{scored.Id} could not be read after retries: {failure.Message}", failure);
            if (options.RowReady is { } ready)
                await ready(ToRow(scored), ct);
        }, null, cancellationToken);
        return notImages.AddTo(summary);
    }

    private async Task<ScoreSummary> ScoreContainerIntoTableAsync(StorageAccount account, string container, string prefix, string table,
        CancellationToken cancellationToken)
    {
        var started = Stopwatch.StartNew();
        var service = containerScoring ?? throw new InvalidOperationException("scoring a container into a table needs the BlobScoringService");
        var result = await service.ScoreContainerAsync(container, new ContainerScoringOptions
        {
            Prefix = prefix.Length == 0 ? null : prefix,
            Table = table,
            Progress = counts => options.Progress?.Invoke(new ScoreProgress(counts.Total, counts.Failed, null)),
            RowReady = options.RowReady is not { } ready ? null : async (row, _) => await ready(ToRow(row), cancellationToken),
        }, cancellationToken);
        return new ScoreSummary(result.Scored + result.Failed, result.Failed, started.Elapsed, result.Skipped);
    }

    /// <summary>
    /// Runs the pipeline and hands each result to <paramref name="write"/> in input order, so every
    /// output lists the same rows in the same order; on cancellation, <paramref name="flush"/> still
    /// keeps what is done.
    /// </summary>
    private async Task<ScoreSummary> RunAsync(IAsyncEnumerable<ImageInput> inputs, long? total, Func<ScoredImage, CancellationToken, ValueTask> write,
        Func<CancellationToken, Task>? flush, CancellationToken cancellationToken)
    {
        var started = Stopwatch.StartNew();
        var pipeline = new ScoringPipeline(await engine.GetClassifierAsync(cancellationToken), options.Pipeline);
        long count = 0, errors = 0;
        void Finished(ScoredImage scored)
        {
            count++;
            if (scored.Error is not null)
                errors++;
            options.Progress?.Invoke(new ScoreProgress(count, errors, total));
        }
        try
        {
            await foreach (var scored in pipeline.RunInInputOrderAsync(inputs, Finished, cancellationToken))
                await write(scored, cancellationToken);
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested && flush is not null)
        {
            await flush(CancellationToken.None);
            throw;
        }
        if (flush is not null)
            await flush(cancellationToken);
        return new ScoreSummary(count, errors, started.Elapsed);
    }

    private static async IAsyncEnumerable<ImageInput> FileInputs(string folder, IReadOnlyList<string> files,
        [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        await Task.Yield();
        foreach (var file in files)
        {
            cancellationToken.ThrowIfCancellationRequested();
            var id = Path.GetRelativePath(folder, file).Replace('\\', '/');
            yield return new ImageInput(id, async ct => await File.ReadAllBytesAsync(file, ct)) { State = file };
        }
    }

    private StorageAccount Storage() =>
        storage ?? throw new InvalidOperationException("a container or a table needs the storage account given to the LocalScoreRun");

    private static ScoredRow ToRow(ScoredImage scored) => new(scored.Id, PredictedClass.From(scored.Top), scored.Error);

    private static ScoredRow ToRow(PredictionEntity row) =>
        new(row.BlobName, row.TopJson is null ? null : PredictedClass.FromJson(row.TopJson), row.ErrorMessage);

    /// <summary>Inputs left out of a run (counted from the pipeline's reader), for one warning at the end.</summary>
    private sealed class NotImages
    {
        private readonly Lock _gate = new();
        private int _count;
        private string? _first;

        public void Add(string name)
        {
            lock (_gate)
            {
                _first ??= name;
                _count++;
            }
        }

        public ScoreSummary AddTo(ScoreSummary summary)
        {
            lock (_gate)
                return summary with { NotImages = _count, FirstNotImage = _first };
        }
    }
}
