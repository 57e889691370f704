using System.Diagnostics;
using System.Runtime.CompilerServices;
using Azure;
using Azure.Data.Tables;
using Azure.Storage.Blobs.Models;
using ConvNeXt.Batch.Service.Contracts;
using ConvNeXt.Batch.Service.Observability;
using ConvNeXt.Batch.Service.Storage;
using ConvNeXt.Batch.Scoring.Pipeline;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace ConvNeXt.Batch.Service.Services;

/// <summary>A blob to score, with what its event said about it.</summary>
public sealed record BlobReference(string Container, string Name, string? ETag = null, long? ContentLength = null, string? EventId = null);

/// <summary>What happened to one blob.</summary>
public sealed record BlobOutcome(string Container, string Name, string Status, string? ErrorReason, string? Top1Wnid, bool Skipped);

public sealed record BlobScoringResult(IReadOnlyList<BlobOutcome> Outcomes)
{
    public int Scored => Outcomes.Count(o => o.Status == RowStatus.Scored);
    public int Failed => Outcomes.Count(o => o.Status == RowStatus.Failed);
    public int Skipped => Outcomes.Count(o => o.Skipped);
}

/// <summary>
/// Storage stayed unavailable through every retry: the invocation must fail so that the host
/// redelivers the messages (and dead-letters them after the maximum delivery count).
/// </summary>
public sealed class StorageUnavailableException(string message, Exception? inner = null) : Exception(message, inner);

/// <summary>
/// Scores blobs into <c>Predictions</c>: downloads concurrently, preprocesses in parallel, infers in
/// batches, and upserts exactly one row per blob (a prediction or an error with its reason).
/// </summary>
public sealed class BlobScoringService
{
    private readonly StorageAccount _storage;
    private readonly ScoringEngine _engine;
    private readonly ScoringOptions _options;
    private readonly ScoringMetrics _metrics;
    private readonly ILogger _logger;
    private readonly BlobImageReader _reader;

    public BlobScoringService(StorageAccount storage, ScoringEngine engine, ScoringOptions options,
        ScoringMetrics? metrics = null, ILogger<BlobScoringService>? logger = null, BlobImageReader? reader = null)
    {
        _storage = storage;
        _reader = reader ?? new BlobImageReader(storage, options);
        _engine = engine;
        _options = options;
        _metrics = metrics ?? new ScoringMetrics();
        _logger = (ILogger?)logger ?? NullLogger.Instance;
    }

    public Task<BlobScoringResult> ScoreEventsAsync(IEnumerable<BlobCreatedEvent> events, CancellationToken cancellationToken = default) =>
        ScoreAsync(events.Select(e => new BlobReference(e.Container, e.BlobName, e.BlobETag, e.ContentLength, e.EventId)), cancellationToken);

    /// <summary>Scores every blob under <paramref name="prefix"/> of <paramref name="container"/> (CLI <c>score --table</c>).</summary>
    public async Task<BlobScoringResult> ScoreContainerAsync(string container, string? prefix = null, CancellationToken cancellationToken = default)
    {
        var client = _storage.Container(container);
        var blobs = await _storage.Resilience.ExecuteAsync(async ct =>
        {
            var list = new List<BlobReference>();
            await foreach (var item in client.GetBlobsAsync(new GetBlobsOptions { Prefix = string.IsNullOrEmpty(prefix) ? null : prefix }, ct))
                list.Add(new BlobReference(container, item.Name, item.Properties.ETag?.ToString(), item.Properties.ContentLength));
            return list;
        }, cancellationToken);
        return await ScoreAsync(blobs, cancellationToken);
    }

    public async Task<BlobScoringResult> ScoreAsync(IEnumerable<BlobReference> blobs, CancellationToken cancellationToken = default)
    {
        var started = Stopwatch.GetTimestamp();
        await _storage.EnsureTablesAsync(cancellationToken);
        var table = _storage.Table(TableNames.Predictions);

        // One row per blob: a batch naming a blob twice (two events for one upload) scores it once.
        var unique = blobs.GroupBy(b => (b.Container, b.Name)).Select(g => g.Last()).ToList();
        var outcomes = new List<BlobOutcome>(unique.Count);
        var todo = new List<BlobReference>(unique.Count);
        foreach (var (blob, existing) in await ReadExistingAsync(table, unique, cancellationToken))
        {
            if (existing is not null)
                outcomes.Add(new BlobOutcome(blob.Container, blob.Name, existing.Status, existing.ErrorReason, existing.Top1Wnid, Skipped: true));
            else
                todo.Add(blob);
        }

        var model = todo.Count > 0 ? await _engine.GetModelInfoAsync(cancellationToken) : null;
        var rows = new List<PredictionEntity>(todo.Count);
        var storageFailures = new List<(BlobReference Blob, Exception Error)>();
        await foreach (var result in _engine.ScoreAsync(Inputs(todo, cancellationToken), cancellationToken))
        {
            var work = (BlobWork)result.State!;
            if (work.StorageFailure is { } failure)
            {
                storageFailures.Add((work.Blob, failure));
                continue;
            }
            var row = ToRow(work, result, model!);
            rows.Add(row);
            outcomes.Add(new BlobOutcome(row.PartitionKey, row.BlobName, row.Status, row.ErrorReason, row.Top1Wnid, Skipped: false));
            if (row.Status == RowStatus.Failed)
                _logger.LogWarning("blob {Container}/{Blob} could not be scored: {Reason}: {Message}", row.PartitionKey, row.BlobName, row.ErrorReason, row.ErrorMessage);
        }

        await TableWrites.UpsertAsync(_storage, table, rows, cancellationToken);
        _metrics.ImagesScored.Add(rows.Count(r => r.Status == RowStatus.Scored));
        _metrics.ImagesFailed.Add(rows.Count(r => r.Status == RowStatus.Failed));
        _metrics.BatchSize.Record(unique.Count);
        _metrics.BatchLatency.Record(Stopwatch.GetElapsedTime(started).TotalMilliseconds);

        if (storageFailures.Count > 0)
        {
            var (blob, error) = storageFailures[0];
            throw new StorageUnavailableException(
                $"{storageFailures.Count} blob(s) could not be read after retries, e.g. {blob.Container}/{blob.Name}: {error.Message}", error);
        }
        return new BlobScoringResult(outcomes);
    }

    /// <summary>Rows that already hold this blob version scored by this model: nothing to do for them.</summary>
    private async Task<List<(BlobReference, PredictionEntity?)>> ReadExistingAsync(TableClient table, List<BlobReference> blobs, CancellationToken cancellationToken)
    {
        var result = blobs.Select(b => (b, (PredictionEntity?)null)).ToList();
        if (!_options.SkipUnchanged || blobs.All(b => b.ETag is null))
            return result;
        var model = await _engine.GetModelInfoAsync(cancellationToken);
        await Parallel.ForEachAsync(Enumerable.Range(0, blobs.Count),
            new ParallelOptions { MaxDegreeOfParallelism = 8, CancellationToken = cancellationToken }, async (i, ct) =>
            {
                var blob = blobs[i];
                if (blob.ETag is null)
                    return;
                var row = await _storage.Resilience.ExecuteAsync(async c =>
                    await table.GetEntityIfExistsAsync<PredictionEntity>(blob.Container, TableKeys.Escape(blob.Name), cancellationToken: c), ct);
                if (row.HasValue && SameETag(row.Value!.BlobETag, blob.ETag) && row.Value.ModelSha256 == model.Sha256)
                    result[i] = (blob, row.Value);
            });
        return result;
    }

    private async IAsyncEnumerable<ImageInput> Inputs(List<BlobReference> blobs, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        foreach (var blob in blobs)
        {
            cancellationToken.ThrowIfCancellationRequested();
            var work = new BlobWork(blob);
            yield return new ImageInput($"{blob.Container}/{blob.Name}", ct => _reader.ReadAsync(work, ct)) { State = work };
        }
        await Task.CompletedTask;
    }

    private static PredictionEntity ToRow(BlobWork work, ScoredImage result, ModelInfo model)
    {
        var row = PredictionEntity.From(work.Blob.Container, work.Blob.Name, result, model.ModelId, model.Sha256,
            errorReason: FailureReason(work, result),
            errorMessage: work.Missing ? "the blob was deleted before it could be read" : null);
        row.BlobETag = work.ETag ?? work.Blob.ETag;
        row.ContentLength = work.Blob.ContentLength;
        row.EventId = work.Blob.EventId;
        row.DownloadMilliseconds = Math.Round(work.DownloadTime.TotalMilliseconds, 2);
        return row;
    }

    internal static string FailureReason(BlobWork work, ScoredImage result) =>
        work.Missing ? "BlobNotFound" : work.TooLarge ? "TooLarge" : result.ErrorReason ?? "Failed";

    internal static bool SameETag(string? a, string? b) =>
        a is not null && b is not null && string.Equals(a.Trim('"'), b.Trim('"'), StringComparison.Ordinal);
}
