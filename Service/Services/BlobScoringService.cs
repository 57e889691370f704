using System.Diagnostics;
using System.Runtime.CompilerServices;
using Azure;
using Azure.Data.Tables;
using Azure.Storage.Blobs.Models;
using ConvNeXt.Batch.Service.Contracts;
using ConvNeXt.Batch.Service.Models;
using ConvNeXt.Batch.Service.Observability;
using ConvNeXt.Batch.Service.Storage;
using ConvNeXt.Batch.Scoring.Pipeline;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace ConvNeXt.Batch.Service.Services;

/// <summary>A blob to score, with what its event said about it.</summary>
/// <param name="ContentMd5">Base64 MD5 of the content as storage lists it (null when storage has none, e.g. a block list upload).</param>
public sealed record BlobReference(string Container, string Name, string? ETag = null, long? ContentLength = null, string? EventId = null, string? ContentMd5 = null);

/// <summary>What happened to one blob.</summary>
public sealed record BlobOutcome(string Container, string Name, string Status, string? ErrorReason, string? Top1Wnid, bool Skipped);

/// <summary>
/// Counts of one scoring call: rows written as <c>Scored</c>, error rows written, blobs skipped as
/// unchanged. <see cref="Outcomes"/> lists each blob for event batches; container scoring keeps only
/// the counts, so its memory does not grow with the container.
/// </summary>
public sealed record BlobScoringResult(IReadOnlyList<BlobOutcome> Outcomes, long Scored, long Failed, long Skipped)
{
    public BlobScoringResult(IReadOnlyList<BlobOutcome> outcomes)
        : this(outcomes, outcomes.Count(o => !o.Skipped && o.Status == RowStatus.Scored),
            outcomes.Count(o => !o.Skipped && o.Status == RowStatus.Failed), outcomes.Count(o => o.Skipped))
    {
    }

    public long Total => Scored + Failed + Skipped;
}

/// <summary>How one container scoring call runs.</summary>
public sealed class ContainerScoringOptions
{
    /// <summary>Only blobs whose name starts with this.</summary>
    public string? Prefix { get; init; }

    /// <summary>The table the rows go to (and unchanged blobs are looked up in): <c>Predictions</c>, or the CLI's <c>score --table NAME</c>.</summary>
    public string Table { get; init; } = TableNames.Predictions;

    /// <summary>
    /// The model to score with: <c>NAME@VERSION</c>, or <c>NAME</c> for its promoted version; null = the
    /// <c>default</c> alias, else the deployed model. Resolved once when the call starts.
    /// </summary>
    public ModelReference? Model { get; init; }

    /// <summary>Called after each blob with the counts so far (for a progress line).</summary>
    public Action<BlobScoringResult>? Progress { get; init; }

    /// <summary>
    /// Called once per blob, one call at a time, in the order blobs finish, with its row: the one just
    /// written, or (skipped = true) the final row already stored for this blob version and model.
    /// </summary>
    public Func<PredictionEntity, bool, ValueTask>? RowReady { get; init; }
}

/// <summary>
/// Storage stayed unavailable through every retry: the invocation must fail so that the host
/// redelivers the messages (and dead-letters them after the maximum delivery count).
/// </summary>
public sealed class StorageUnavailableException(string message, Exception? inner = null) : Exception(message, inner);

/// <summary>
/// Scores blobs into <c>Predictions</c>, the one writer of its rows (the Functions handler and the
/// CLI): downloads concurrently, preprocesses in parallel, infers in batches, and upserts exactly one
/// row per blob (a prediction, or an error whose cause is permanent). Rows are written in batches as
/// results arrive, so memory is bounded whatever the number of blobs, and a cancelled run keeps what
/// it finished. A transient storage failure writes no row for that blob: the call fails with
/// <see cref="StorageUnavailableException"/> (after writing the true rows already done) so it is redelivered.
/// </summary>
public sealed class BlobScoringService
{
    /// <summary>Blobs whose existing rows are looked up together (the ETag skip).</summary>
    private const int LookupBatch = 64;

    private readonly StorageAccount _storage;
    private readonly ScoringEngine _engine;
    private readonly ScoringOptions _options;
    private readonly ScoringMetrics _metrics;
    private readonly ILogger _logger;
    private readonly BlobImageReader _reader;

    public BlobScoringService(StorageAccount storage, ScoringEngine engine, ScoringOptions options, ScoringMetrics metrics, BlobImageReader reader,
        ILogger<BlobScoringService>? logger = null)
    {
        _storage = storage;
        _reader = reader;
        _engine = engine;
        _options = options;
        _metrics = metrics;
        _logger = (ILogger?)logger ?? NullLogger.Instance;
    }

    /// <summary>Scores the blobs of storage events with the default model (the <c>default</c> alias, else the deployed model).</summary>
    public Task<BlobScoringResult> ScoreEventsAsync(IEnumerable<BlobCreatedEvent> events, CancellationToken cancellationToken = default) =>
        ScoreAsync(events.Select(e => new BlobReference(e.Container, e.BlobName, e.BlobETag, e.ContentLength, e.EventId)), cancellationToken);

    /// <summary>
    /// Scores every blob of <paramref name="container"/> (CLI <c>score --table</c>, <c>watch</c>, <c>serve</c>):
    /// the listing is streamed page by page, rows are written as they come.
    /// </summary>
    public Task<BlobScoringResult> ScoreContainerAsync(string container, ContainerScoringOptions? options = null, CancellationToken cancellationToken = default)
    {
        options ??= new ContainerScoringOptions();
        if (BlobNames.ContainerProblem(container) is { } problem)
            throw new ArgumentException(problem, nameof(container));
        return RunAsync(BlobListing.ListAsync(_storage, container, options.Prefix, cancellationToken), keepOutcomes: false, options, cancellationToken);
    }

    /// <summary>Scores the given blobs; a blob named twice (two events for one upload) is scored once.</summary>
    public Task<BlobScoringResult> ScoreAsync(IEnumerable<BlobReference> blobs, CancellationToken cancellationToken = default) =>
        ScoreAsync(blobs, null, cancellationToken);

    /// <summary>
    /// Scores the given blobs with <paramref name="model"/> (<c>NAME@VERSION</c> or <c>NAME</c>; null = the default
    /// model) into <c>Predictions</c>; a blob named twice is scored once. Blobs whose row of that model already
    /// holds the same ETag are skipped. A model whose file fails its manifest's SHA-256 writes a <c>ModelRejected</c>
    /// row per blob saying why; a manifest that cannot be read (storage down) fails the call (transient).
    /// </summary>
    /// <exception cref="ModelNotFoundException"><paramref name="model"/> is not in the repository (nothing is written).</exception>
    public Task<BlobScoringResult> ScoreAsync(IEnumerable<BlobReference> blobs, ModelReference? model, CancellationToken cancellationToken = default)
    {
        var unique = blobs.GroupBy(b => (b.Container, b.Name)).Select(g => g.Last()).ToList();
        return RunAsync(unique.ToAsyncEnumerable(), keepOutcomes: true, new ContainerScoringOptions { Model = model }, cancellationToken);
    }

    /// <summary>The error reason of the rows written when the requested model cannot be loaded (unknown, or its file fails the manifest).</summary>
    public const string ModelRejected = "ModelRejected";

    private async Task<BlobScoringResult> RunAsync(IAsyncEnumerable<BlobReference> blobs, bool keepOutcomes,
        ContainerScoringOptions options, CancellationToken cancellationToken)
    {
        var started = Stopwatch.GetTimestamp();
        await _storage.EnsureTablesAsync(cancellationToken);
        var run = new Run(keepOutcomes, options);
        var writer = new PredictionRowWriter(_storage, options.Table, _metrics);
        ModelInfo model;
        ModelReference? exact = null;
        try
        {
            exact = await _engine.ResolveAsync(options.Model, cancellationToken);
            model = await _engine.GetModelInfoAsync(exact, cancellationToken);
        }
        catch (Exception e) when (exact is not null && (e is ModelIntegrityException || e is ModelNotFoundException && options.Model is null))
        {
            // Bad input, not an outage: the model's file fails its manifest, or the default alias names a version that
            // is gone. Each blob gets a row saying why, in that model's partition; a transient failure reading the
            // manifest propagates instead (redelivered), and so does an unknown model the caller named (its 404).
            return await RejectAsync(blobs, exact, e.Message, writer, run, cancellationToken);
        }

        // The first transient read failure stops the call: the invocation fails and is redelivered
        // whole, so there is no point reading the rest against a storage account that is down.
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        try
        {
            await foreach (var result in _engine.ScoreAsync(Inputs(blobs, model, run, stop.Token), model.Reference, stop.Token))
            {
                if (stop.IsCancellationRequested)
                    break; // results after a stop may be cancellation errors, not answers
                var work = (BlobWork)result.State!;
                if (work.StorageFailure is not null)
                {
                    run.StorageFailure ??= work;
                    await stop.CancelAsync();
                    break;
                }
                var row = ToRow(work, result, model);
                await writer.AddAsync(row, cancellationToken);
                await run.AddAsync(row, skipped: false, cancellationToken);
                if (row.Status == RowStatus.Failed)
                    _logger.LogWarning("blob {Container}/{Blob} could not be scored: {Reason}: {Message}", row.PartitionKey, row.BlobName, row.ErrorReason, row.ErrorMessage);
            }
            cancellationToken.ThrowIfCancellationRequested();
        }
        catch (OperationCanceledException) when (run.StorageFailure is not null && !cancellationToken.IsCancellationRequested)
        {
            // The pipeline stopped because of the storage failure recorded above.
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            // Stopped by the caller (Ctrl+C): keep what is done.
            await writer.FlushAsync(CancellationToken.None);
            throw;
        }

        await writer.FlushAsync(cancellationToken);
        _metrics.BatchSize.Record((int)Math.Min(int.MaxValue, run.Result().Total));
        _metrics.BatchLatency.Record(Stopwatch.GetElapsedTime(started).TotalMilliseconds);

        if (run.StorageFailure is { } failed)
            throw new StorageUnavailableException(
                $"blob {failed.Blob.Container}/{failed.Blob.Name} could not be read after retries ({failed.StorageFailure!.Message}); no row was written for it",
                failed.StorageFailure);
        return run.Result();
    }

    /// <summary>Blobs to read, in order, minus those whose row is already final (looked up a few at a time).</summary>
    private async IAsyncEnumerable<ImageInput> Inputs(IAsyncEnumerable<BlobReference> blobs, ModelInfo model, Run run,
        [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        await foreach (var chunk in blobs.Chunk(LookupBatch).WithCancellation(cancellationToken))
        {
            var existing = await ReadExistingAsync(chunk, model, run.Options.Table, cancellationToken);
            for (var i = 0; i < chunk.Length; i++)
            {
                var blob = chunk[i];
                if (existing[i] is { } row)
                {
                    await run.AddAsync(row, skipped: true, cancellationToken);
                    continue;
                }
                var work = new BlobWork(blob);
                yield return new ImageInput($"{blob.Container}/{blob.Name}", ct => _reader.ReadAsync(work, ct)) { State = work };
            }
        }
    }

    /// <summary>
    /// True when <paramref name="row"/> already holds the final answer for this blob version and model:
    /// a prediction, or an error with a permanent cause. Rows from transient causes (<c>ReadFailed</c>,
    /// <c>InferenceFailed</c>, a decode timeout, a deleted blob) are scored again.
    /// </summary>
    public static bool IsFinal(PredictionEntity row, string? etag, string modelSha256) =>
        SameETag(row.BlobETag, etag) && row.ModelSha256 == modelSha256 &&
        FailureReason.IsFinal(row.Status == RowStatus.Scored, row.Status == RowStatus.Failed ? row.ErrorReason : null);

    /// <summary>For each blob, its existing row when that row is final (see <see cref="IsFinal"/>), else null.</summary>
    private async Task<PredictionEntity?[]> ReadExistingAsync(BlobReference[] blobs, ModelInfo model, string tableName, CancellationToken cancellationToken)
    {
        var result = new PredictionEntity?[blobs.Length];
        if (!_options.SkipUnchanged || blobs.All(b => b.ETag is null))
            return result;
        await Parallel.ForEachAsync(Enumerable.Range(0, blobs.Length),
            new ParallelOptions { MaxDegreeOfParallelism = 8, CancellationToken = cancellationToken }, async (i, ct) =>
            {
                var blob = blobs[i];
                if (blob.ETag is null)
                    return;
                var row = await _storage.TableCallAsync(tableName, async (table, c) =>
                    await table.GetEntityIfExistsAsync<PredictionEntity>(PredictionKeys.Partition(blob.Container, model.Reference),
                        TableKeys.Escape(blob.Name), cancellationToken: c), ct);
                if (row.HasValue && string.Equals(row.Value!.BlobName, blob.Name, StringComparison.Ordinal) && IsFinal(row.Value, blob.ETag, model.Sha256))
                    result[i] = row.Value;
            });
        return result;
    }

    /// <summary>Counts (and, for event batches, each outcome) of one call; hands each row to the caller's observer.</summary>
    private sealed class Run(bool keepOutcomes, ContainerScoringOptions options)
    {
        private readonly List<BlobOutcome> _outcomes = [];
        // Rows come from two tasks (unchanged ones from the listing, scored ones from the pipeline);
        // the observer (e.g. a file writer) sees one at a time.
        private readonly SemaphoreSlim _observer = new(1, 1);
        private long _scored, _failed, _skipped;

        public ContainerScoringOptions Options => options;

        public BlobWork? StorageFailure { get; set; }

        public async ValueTask AddAsync(PredictionEntity row, bool skipped, CancellationToken cancellationToken)
        {
            if (skipped)
                Interlocked.Increment(ref _skipped);
            else if (row.Status == RowStatus.Scored)
                Interlocked.Increment(ref _scored);
            else
                Interlocked.Increment(ref _failed);
            if (keepOutcomes)
                lock (_outcomes)
                    _outcomes.Add(new BlobOutcome(row.PartitionKey, row.BlobName, row.Status, row.ErrorReason, row.Top1Wnid, skipped));
            if (options.RowReady is null && options.Progress is null)
                return;
            await _observer.WaitAsync(cancellationToken);
            try
            {
                if (options.RowReady is { } observe)
                    await observe(row, skipped);
                options.Progress?.Invoke(Result());
            }
            finally
            {
                _observer.Release();
            }
        }

        public BlobScoringResult Result()
        {
            lock (_outcomes)
                return new BlobScoringResult(keepOutcomes ? _outcomes.ToList() : [],
                    Interlocked.Read(ref _scored), Interlocked.Read(ref _failed), Interlocked.Read(ref _skipped));
        }
    }

    /// <summary>One <see cref="ModelRejected"/> row per blob (none is scored): the model could not be used.</summary>
    private async Task<BlobScoringResult> RejectAsync(IAsyncEnumerable<BlobReference> blobs, ModelReference model, string why,
        PredictionRowWriter writer, Run run, CancellationToken cancellationToken)
    {
        _logger.LogWarning("model {Model} rejected: {Reason}", model, why);
        string? sha256 = null;
        if (model.IsExact && _engine.Models is { } models)
        {
            try
            {
                sha256 = (await models.Repository.GetManifestAsync(model, cancellationToken)).Sha256;
            }
            catch (Exception e) when (e is ModelNotFoundException or ModelIntegrityException)
            {
                // The row says why; there is no manifest SHA-256 to name.
            }
        }
        await foreach (var blob in blobs.WithCancellation(cancellationToken))
        {
            var row = new PredictionEntity
            {
                PartitionKey = PredictionKeys.Partition(blob.Container, model),
                RowKey = TableKeys.Escape(blob.Name),
                BlobName = blob.Name,
                BlobETag = blob.ETag,
                ContentLength = blob.ContentLength,
                EventId = blob.EventId,
                Status = RowStatus.Failed,
                ErrorReason = ModelRejected,
                ErrorMessage = PredictionEntity.Truncate(why),
                ModelId = model.ToString(),
                ModelName = model.Name,
                ModelVersion = model.Version,
                ModelSha256 = sha256,
                ScoredAt = DateTimeOffset.UtcNow,
            };
            await writer.AddAsync(row, cancellationToken);
            await run.AddAsync(row, skipped: false, cancellationToken);
        }
        await writer.FlushAsync(cancellationToken);
        return run.Result();
    }

    private static PredictionEntity ToRow(BlobWork work, ScoredImage result, ModelInfo model)
    {
        var row = PredictionEntity.From(work.Blob.Container, work.Blob.Name, result, model.ModelId, model.Sha256,
            errorReason: ReasonOf(work, result),
            errorMessage: work.Missing ? "the blob was deleted before it could be read" : null);
        row.PartitionKey = PredictionKeys.Partition(work.Blob.Container, model.Reference);
        row.ModelName = model.Reference?.Name;
        row.ModelVersion = model.Reference?.Version;
        row.ExecutionProvider = model.ExecutionProvider;
        row.BlobETag = work.ETag ?? work.Blob.ETag;
        row.ContentLength = work.Blob.ContentLength;
        row.EventId = work.Blob.EventId;
        row.DownloadMilliseconds = Math.Round(work.DownloadTime.TotalMilliseconds, 2);
        return row;
    }

    internal static string ReasonOf(BlobWork work, ScoredImage result) =>
        work.Missing ? FailureReason.BlobNotFound : work.TooLarge ? FailureReason.TooLarge : result.ErrorReason ?? FailureReason.Failed;

    internal static bool SameETag(string? a, string? b) =>
        a is not null && b is not null && string.Equals(a.Trim('"'), b.Trim('"'), StringComparison.Ordinal);
}
