using ConvNeXt.Batch.Service.Storage;
using Microsoft.Extensions.Logging;

namespace ConvNeXt.Batch.Service.Validation;

/// <summary>
/// Ends validation runs: records each finished chunk on its run and completes the run with the totals summed from its
/// chunk rows when the last one is in (exactly once: the write that sets the last bit wins under the row's ETag), or
/// marks it <see cref="RunStatus.Failed"/> with a reason. Totals are recomputed each time, never incremented.
/// </summary>
public sealed class ValidationRunFinalizer(StorageAccount storage, ValidationRunStore store, StalledRuns stalled, TimeProvider time,
    ILogger<ValidationRunFinalizer> logger)
{
    /// <summary>What the sweep records as the finalizer of a run it completes.</summary>
    public const string SweepFinalizer = "stall-sweep";


    /// <summary>
    /// Records a chunk (whose rows are all written) as done on its run, and completes the run when it was the last one
    /// missing. Costs one read and at most one conditional write of the run row per chunk, whatever the run's size: the
    /// chunk rows are read only by the delivery that finds every chunk done. Setting the bit is idempotent (a redelivery
    /// writes nothing), and concurrent chunks never lose each other's bits (<see cref="ValidationRunStore.UpdateAsync"/>).
    /// Runs created before the bitmap fall back to <see cref="FinalizeAsync"/>.
    /// </summary>
    /// <returns>(this call finalized it, the run is completed).</returns>
    public async Task<(bool Finalized, bool Completed)> CompleteChunkAsync(string runId, int chunkIndex, string? invocationId,
        CancellationToken cancellationToken = default)
    {
        var legacy = false;
        RunTotals? totals = null;
        var (run, written) = await store.UpdateAsync(runId, async (run, ct) =>
        {
            totals = null;
            legacy = run.ChunksDone is null && run.Status != RunStatus.Completed;
            if (run.Status == RunStatus.Completed || legacy)
                return false;
            var alreadyDone = ChunkProgress.Contains(run.ChunksDone!, chunkIndex);
            run.ChunksDone = ChunkProgress.With(run.ChunksDone!, chunkIndex);
            if (ChunkProgress.Count(run.ChunksDone, run.ChunkCount) == run.ChunkCount)
            {
                totals = await CompleteAsync(run, invocationId, ct);
                if (totals is null)
                    logger.LogWarning("validation run {RunId}: every chunk is marked done but chunk rows are missing; not finalized", runId);
            }
            return totals is not null || !alreadyDone;
        }, cancellationToken);
        if (run is null)
        {
            logger.LogWarning("validation run {RunId} has no run row; chunk kept, run not finalized", runId);
            return (false, false);
        }
        if (legacy)
            return await FinalizeAsync(runId, invocationId, cancellationToken);
        if (written && totals is not null)
        {
            LogCompleted(run, totals);
            return (true, true);
        }
        return (false, run.Status == RunStatus.Completed);
    }

    /// <summary>
    /// Completes the run when every chunk row is present, whatever its bitmap says: runs created before the bitmap, and the
    /// stall sweep's repair of a run whose last chunk wrote its row but could not record it on the run.
    /// </summary>
    /// <returns>(this call finalized it, the run is completed).</returns>
    public async Task<(bool Finalized, bool Completed)> FinalizeAsync(string runId, string? invocationId, CancellationToken cancellationToken = default)
    {
        RunTotals? totals = null;
        var (run, written) = await store.UpdateAsync(runId, async (run, ct) =>
        {
            totals = null;
            if (run.Status == RunStatus.Completed)
                return false;
            totals = await CompleteAsync(run, invocationId, ct);
            if (totals is not null && run.ChunksDone is not null)
                run.ChunksDone = ChunkProgress.Full(run.ChunkCount);
            return totals is not null;
        }, cancellationToken);
        if (run is null)
        {
            logger.LogWarning("validation run {RunId} has no run row; chunk kept, run not finalized", runId);
            return (false, false);
        }
        if (written)
        {
            LogCompleted(run, totals!);
            return (true, true);
        }
        return (false, run.Status == RunStatus.Completed);
    }

    /// <summary>
    /// The timer's sweep, so that every run ends <see cref="RunStatus.Completed"/> or <see cref="RunStatus.Failed"/>: each
    /// running run that has stalled (<see cref="StalledRuns"/>) is completed when all its chunk rows are in (its last chunk
    /// wrote its row but could not record it on the run: a dead-lettered finalization), and otherwise marked failed with the
    /// reason, only if its row is unchanged since the sweep read it (a chunk that progressed meanwhile wins). A run whose
    /// completion fails for good (storage refuses the totals blob) is failed with that reason; a transient failure leaves it
    /// for the next sweep.
    /// </summary>
    /// <returns>One line per run the sweep changed: <c>run {id} marked Failed: …</c> or <c>run {id} finalized: …</c>.</returns>
    public async Task<IReadOnlyList<string>> SweepAsync(CancellationToken cancellationToken = default)
    {
        var changed = new List<string>();
        foreach (var run in await store.ListRunningAsync(cancellationToken))
        {
            if (!stalled.MayHaveStalled(run))
                continue;
            var chunks = await ChunkRowSum.ReadAsync(storage, run.RowKey, run.ChunkCount, withCounts: false, cancellationToken);
            if (stalled.Reason(run, chunks) is not { } reason)
                continue;
            if (chunks.Complete)
            {
                try
                {
                    if ((await FinalizeAsync(run.RowKey, SweepFinalizer, cancellationToken)).Finalized)
                        changed.Add($"run {run.RowKey} finalized: every chunk was in but not recorded on the run");
                    continue;
                }
                catch (Exception e) when (!cancellationToken.IsCancellationRequested && !StorageFailures.IsTransient(e, cancellationToken)
                                          && e is not Services.StorageUnavailableException)
                {
                    reason = $"every chunk is in but the run could not be finalized: {e.Message}";
                }
            }
            if (await FailAsync(run.RowKey, reason, chunkIndex: null, run.ETag, cancellationToken))
                changed.Add($"run {run.RowKey} marked Failed: {reason}");
        }
        return changed;
    }

    /// <summary>
    /// Marks the run <see cref="RunStatus.Failed"/> with <paramref name="reason"/> (unless it completed), recording
    /// <paramref name="chunkIndex"/> among its chunks rejected for good when given. A chunk that arrives later can still
    /// complete it.
    /// </summary>
    /// <param name="unchangedSince">When given, the row is left alone unless its ETag is still this one.</param>
    /// <returns>True when this call marked it (false: no row, completed, changed, or failed already for that chunk).</returns>
    public async Task<bool> FailAsync(string runId, string reason, int? chunkIndex, Azure.ETag? unchangedSince = null,
        CancellationToken cancellationToken = default)
    {
        var (_, written) = await store.UpdateAsync(runId, (run, _) =>
        {
            if (run.Status == RunStatus.Completed || unchangedSince is { } tag && run.ETag != tag)
                return ValueTask.FromResult(false);
            var failed = Queries.ValidationQueries.FailedChunkIndexes(run.FailedChunks);
            if (run.Status == RunStatus.Failed && (chunkIndex is null || failed.Contains(chunkIndex.Value)))
                return ValueTask.FromResult(false);
            if (chunkIndex is { } index)
                run.FailedChunks = string.Join(',', failed.Append(index).Distinct().Order());
            run.Status = RunStatus.Failed;
            run.FailureReason = reason;
            run.FinishedAt ??= time.GetUtcNow();
            return ValueTask.FromResult(true);
        }, cancellationToken);
        if (written)
            logger.LogWarning("validation run {RunId} failed: {Reason}", runId, reason);
        return written;
    }

    /// <summary>
    /// Marks <paramref name="run"/> completed with the totals summed from its chunk rows, or returns null and leaves it
    /// unchanged when a chunk row is missing. The sum is frozen in a blob first (<see cref="FrozenTotals"/>), so reads of
    /// the completed run need not sum the chunk rows again; the caller's conditional write of the row comes after it, so
    /// no run is marked completed without its totals blob, and a storage failure writing it fails the delivery.
    /// </summary>
    private async Task<RunTotals?> CompleteAsync(ValidationRunEntity run, string? invocationId, CancellationToken cancellationToken)
    {
        var chunks = await ChunkRowSum.ReadAsync(storage, run.RowKey, run.ChunkCount, cancellationToken: cancellationToken);
        if (!chunks.Complete)
            return null;
        (run.TotalsBlob, run.TotalsSha256) = await FrozenTotals.WriteAsync(storage, run.RowKey, chunks.Counts, cancellationToken);
        var totals = RunTotals.From(chunks.Counts);
        run.Status = RunStatus.Completed;
        run.FinishedAt = time.GetUtcNow();
        run.FinalizedBy = invocationId ?? Guid.NewGuid().ToString("N");
        run.ImageCount = checked((int)chunks.Images);
        run.ScoredCount = checked((int)chunks.Scored);
        run.ErrorCount = checked((int)chunks.Errors);
        run.Top1 = totals.Top1;
        run.Top5 = totals.Top5;
        run.MeanConfidence = totals.MeanConfidence;
        run.Ece = totals.Ece;
        // Every chunk is in: a run failed earlier (stalled, or a chunk rejected) has now completed after all.
        run.FailureReason = null;
        return totals;
    }

    private void LogCompleted(ValidationRunEntity run, RunTotals totals) =>
        logger.LogInformation("validation run {RunId} completed: top-1 {Top1:P2}, top-5 {Top5:P2} over {Images} images",
            run.RowKey, totals.Top1, totals.Top5, run.ImageCount);
}
