using Azure.Data.Tables;

namespace ConvNeXt.Batch.Service.Storage;

/// <summary>Idempotent bulk writes: upsert (replace) in transactions of up to 100 rows of one partition; a missing table is created.</summary>
public static class TableWrites
{
    public static async Task UpsertAsync<T>(StorageAccount storage, TableClient table, IReadOnlyList<T> rows, CancellationToken cancellationToken)
        where T : class, ITableEntity
    {
        using var span = Observability.PipelineTracing.StartStage("write", System.Diagnostics.ActivityKind.Client);
        span?.SetTag("convnext.table", table.Name);
        span?.SetTag("convnext.rows", rows.Count);
        var batches = rows
            .GroupBy(r => r.PartitionKey)
            // A transaction may not touch one row twice: the last write of a row wins, as it would unbatched.
            .SelectMany(g => g.GroupBy(r => r.RowKey).Select(same => same.Last()).Chunk(100))
            .ToList();
        await Parallel.ForEachAsync(batches, new ParallelOptions { MaxDegreeOfParallelism = 4, CancellationToken = cancellationToken },
            async (batch, ct) =>
            {
                var actions = batch.Select(r => new TableTransactionAction(TableTransactionActionType.UpsertReplace, r)).ToList();
                await storage.TableCallAsync(table.Name, async (t, c) => await t.SubmitTransactionAsync(actions, c), ct);
            });
    }
}
