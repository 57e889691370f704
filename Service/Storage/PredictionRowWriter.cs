using ConvNeXt.Batch.Service.Observability;

namespace ConvNeXt.Batch.Service.Storage;

/// <summary>
/// The one writer of prediction rows (event scoring, container scoring and the CLI's <c>score --table</c>):
/// collects rows and upserts them in batches, so memory stays flat however many images a call scores,
/// and a row lands within one batch of its image finishing. Upserts on deterministic keys make a
/// repeated write idempotent. Not thread-safe: one writer per scoring call.
/// </summary>
public sealed class PredictionRowWriter(StorageAccount storage, string table, ScoringMetrics? metrics = null)
{
    /// <summary>Rows per write: large enough for full 100-row transactions, small enough to keep memory flat.</summary>
    public const int BatchRows = 200;

    private readonly List<PredictionEntity> _pending = new(BatchRows);

    public string Table => table;

    public async ValueTask AddAsync(PredictionEntity row, CancellationToken cancellationToken)
    {
        _pending.Add(row);
        if (_pending.Count >= BatchRows)
            await FlushAsync(cancellationToken);
    }

    /// <summary>Writes what is pending (at the end of a call, and on cancellation to keep what is done).</summary>
    public async Task FlushAsync(CancellationToken cancellationToken)
    {
        if (_pending.Count == 0)
            return;
        await TableWrites.UpsertAsync(storage, storage.Table(table), _pending, cancellationToken);
        metrics?.ImagesScored.Add(_pending.Count(r => r.Status == RowStatus.Scored));
        metrics?.ImagesFailed.Add(_pending.Count(r => r.Status == RowStatus.Failed));
        _pending.Clear();
    }
}
