using Azure;
using Azure.Data.Tables;
using ConvNeXt.Batch.Service.Storage;

namespace ConvNeXt.Batch.Service.Validation;

/// <summary>
/// Marks runs that stopped making progress as <see cref="RunStatus.Failed"/>: a run whose last finished
/// chunk (or its creation) is older than <see cref="ValidationOptions.StallTimeout"/> while chunks are
/// missing will never complete by itself (a chunk was dead-lettered or never sent). Used by the timer
/// sweep and on every read of a run. A late chunk can still complete a stalled run.
/// </summary>
public sealed class StalledRuns(StorageAccount storage, ValidationOptions options, TimeProvider? time = null)
{
    private readonly TimeProvider _time = time ?? TimeProvider.System;

    public TimeSpan Timeout => options.StallTimeout;

    /// <summary>The run as it is after the check: unchanged, or failed with a reason when it stalled.</summary>
    public async Task<ValidationRunEntity> FailIfStalledAsync(ValidationRunEntity run, ChunkRowSum chunks, CancellationToken cancellationToken = default)
    {
        if (run.Status != RunStatus.Running || chunks.Complete)
            return run;
        var lastProgress = chunks.LastScoredAt is { } scored && scored > run.CreatedAt ? scored : run.CreatedAt;
        var idle = _time.GetUtcNow() - lastProgress;
        if (idle <= options.StallTimeout)
            return run;

        run.Status = RunStatus.Failed;
        run.FinishedAt = _time.GetUtcNow();
        run.FailureReason = $"stalled: no chunk finished for {Math.Round(idle.TotalMinutes, 1)} min (limit {options.StallTimeout}); " +
                            $"{chunks.Done} of {run.ChunkCount} chunks done";
        try
        {
            // Only if nothing changed since the read: a chunk that finalized the run meanwhile wins.
            await storage.Resilience.ExecuteAsync(async ct =>
                { await storage.Table(TableNames.ValidationRuns).UpdateEntityAsync(run, run.ETag, TableUpdateMode.Replace, ct); }, cancellationToken);
            return run;
        }
        catch (RequestFailedException e) when (e.Status == 412)
        {
            return (await storage.Table(TableNames.ValidationRuns).GetEntityAsync<ValidationRunEntity>(
                ValidationRunEntity.PartitionKeyValue, run.RowKey, cancellationToken: cancellationToken)).Value;
        }
    }

    /// <summary>Checks every running run; returns the ids of the runs it marked failed.</summary>
    public async Task<IReadOnlyList<string>> SweepAsync(CancellationToken cancellationToken = default)
    {
        await storage.EnsureTablesAsync(cancellationToken);
        var running = await storage.Resilience.ExecuteAsync(async ct =>
        {
            var list = new List<ValidationRunEntity>();
            await foreach (var row in storage.Table(TableNames.ValidationRuns).QueryAsync<ValidationRunEntity>(
                               TableClient.CreateQueryFilter($"PartitionKey eq {ValidationRunEntity.PartitionKeyValue} and Status eq {RunStatus.Running}"),
                               cancellationToken: ct))
                list.Add(row);
            return list;
        }, cancellationToken);
        var failed = new List<string>();
        foreach (var run in running)
        {
            // Cheap first test on the run row alone: a run younger than the timeout cannot have stalled.
            if (_time.GetUtcNow() - run.CreatedAt <= options.StallTimeout)
                continue;
            var chunks = await ChunkRowSum.ReadAsync(storage, run.RowKey, run.ChunkCount, withCounts: false, cancellationToken);
            var after = await FailIfStalledAsync(run, chunks, cancellationToken);
            if (after.Status == RunStatus.Failed)
                failed.Add(run.RowKey);
        }
        return failed;
    }
}
