using Azure.Data.Tables;

namespace ConvNeXt.Batch.Service.Storage;

/// <summary>Idempotent bulk writes: upsert (replace) in transactions of up to 100 rows of one partition.</summary>
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
            .SelectMany(g => g.DistinctBy(r => r.RowKey).Chunk(100))
            .ToList();
        await Parallel.ForEachAsync(batches, new ParallelOptions { MaxDegreeOfParallelism = 4, CancellationToken = cancellationToken },
            async (batch, ct) =>
            {
                var actions = batch.Select(r => new TableTransactionAction(TableTransactionActionType.UpsertReplace, r)).ToList();
                await storage.Resilience.ExecuteAsync(async c => { await table.SubmitTransactionAsync(actions, c); }, ct);
            });
    }
}
