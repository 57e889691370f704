using Azure;
using Azure.Data.Tables;
using ConvNeXt.Batch.Service.Queries;
using ConvNeXt.Batch.Service.Services;
using ConvNeXt.Batch.Service.Storage;

namespace ConvNeXt.Batch.Service.Validation;

/// <summary>
/// The one owner of a validation run's row (<c>ValidationRuns</c>): every read and write of it goes through here, every
/// change through <see cref="UpdateAsync"/>, with one conditional-write policy. Storage calls go through the account's
/// retry pipeline; a 412 (the row changed since it was read) is this type's own concern: read again, decide again.
/// Reads never create tables, so a read-only identity can read runs.
/// </summary>
public sealed class ValidationRunStore(StorageAccount storage)
{
    /// <summary>Read-decide-write rounds on a row contended by concurrent chunks before <see cref="UpdateAsync"/> gives up.</summary>
    public const int MaxUpdateAttempts = 100;

    private TableClient Runs => storage.Table(TableNames.ValidationRuns);

    /// <summary>The run's row, or null when there is none (or no table yet).</summary>
    public async Task<ValidationRunEntity?> ReadAsync(string runId, CancellationToken cancellationToken = default)
    {
        try
        {
            var read = await storage.Resilience.ExecuteAsync(async ct =>
                await Runs.GetEntityIfExistsAsync<ValidationRunEntity>(ValidationRunEntity.PartitionKeyValue, runId, cancellationToken: ct), cancellationToken);
            return read.HasValue ? read.Value : null;
        }
        catch (RequestFailedException e) when (StorageAccount.IsTableNotFound(e))
        {
            return null;
        }
    }

    /// <summary>Inserts a new run's row; false when a row with its id exists already (a concurrent create won).</summary>
    public async Task<bool> InsertAsync(ValidationRunEntity run, CancellationToken cancellationToken = default)
    {
        try
        {
            // Insert, not upsert: a concurrent create of the same run id must not reset a run that has progressed.
            await storage.TableCallAsync(TableNames.ValidationRuns, async (table, ct) => await table.AddEntityAsync(run, ct), cancellationToken);
            return true;
        }
        catch (RequestFailedException e) when (e.Status == 409)
        {
            return false;
        }
    }

    /// <summary>
    /// Reads the run, lets <paramref name="mutate"/> change it, and writes it back only if nobody wrote it since the read
    /// (ETag). <paramref name="mutate"/> returns false to write nothing; on a 412 it is called again with the row as it is
    /// now, after a short random pause so a crowd of concurrent chunks does not collide again in lockstep. It may be
    /// called several times, so it must decide from the row it is given alone.
    /// </summary>
    /// <returns>The row as read (and, when <c>Written</c>, as written); null when the run has no row.</returns>
    /// <exception cref="StorageUnavailableException">Still contended after <see cref="MaxUpdateAttempts"/> rounds: redeliver.</exception>
    public async Task<(ValidationRunEntity? Run, bool Written)> UpdateAsync(string runId,
        Func<ValidationRunEntity, CancellationToken, ValueTask<bool>> mutate, CancellationToken cancellationToken = default)
    {
        for (var attempt = 0; attempt < MaxUpdateAttempts; attempt++)
        {
            var run = await ReadAsync(runId, cancellationToken);
            if (run is null)
                return (null, false);
            if (!await mutate(run, cancellationToken))
                return (run, false);
            try
            {
                await storage.Resilience.ExecuteAsync(async ct => { await Runs.UpdateEntityAsync(run, run.ETag, TableUpdateMode.Replace, ct); }, cancellationToken);
                return (run, true);
            }
            catch (RequestFailedException e) when (e.Status == 412)
            {
                await Task.Delay(Random.Shared.Next(0, 10 * (1 + Math.Min(attempt, 10))), cancellationToken);
            }
        }
        throw new StorageUnavailableException($"run {runId}: gave up changing its row after {MaxUpdateAttempts} concurrent updates");
    }

    /// <summary>The runs whose row says <see cref="RunStatus.Running"/> (what the stall sweep checks).</summary>
    public async Task<IReadOnlyList<ValidationRunEntity>> ListRunningAsync(CancellationToken cancellationToken = default)
    {
        try
        {
            return await storage.Resilience.ExecuteAsync(async ct =>
            {
                var list = new List<ValidationRunEntity>();
                await foreach (var row in Runs.QueryAsync<ValidationRunEntity>(
                                   TableClient.CreateQueryFilter($"PartitionKey eq {ValidationRunEntity.PartitionKeyValue} and Status eq {RunStatus.Running}"),
                                   cancellationToken: ct))
                    list.Add(row);
                return list;
            }, cancellationToken);
        }
        catch (RequestFailedException e) when (StorageAccount.IsTableNotFound(e))
        {
            return [];
        }
    }

    /// <summary>A page of runs in id order.</summary>
    public async Task<ResultPage<ValidationRunSummary>> ListAsync(int top, string? continuationToken, CancellationToken cancellationToken = default)
    {
        try
        {
            return await KeysetPaging.QueryAsync<ValidationRunEntity, ValidationRunSummary>(Runs, storage.Resilience,
                TableClient.CreateQueryFilter($"PartitionKey eq {ValidationRunEntity.PartitionKeyValue}"),
                top, continuationToken, ValidationRunSummary.From, cancellationToken);
        }
        catch (RequestFailedException e) when (StorageAccount.IsTableNotFound(e))
        {
            return new ResultPage<ValidationRunSummary>([], null);
        }
    }
}
