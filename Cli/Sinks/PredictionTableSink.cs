using Azure.Data.Tables;
using Azure.Storage.Blobs.Models;
using ConvNeXt.Batch.Service.Contracts;
using ConvNeXt.Batch.Service.Storage;
using ConvNeXt.Batch.Scoring.Inference;
using ConvNeXt.Batch.Scoring.Pipeline;

namespace ConvNeXt.Batch.Cli.Sinks;

/// <summary>
/// Upserts one <c>Predictions</c>-shaped row per scored image (PartitionKey = container, RowKey =
/// escaped blob name or relative path), batched per partition in table transactions of up to 100.
/// Upserts on deterministic keys make re-running a score idempotent.
/// </summary>
internal sealed class PredictionTableSink : IAsyncDisposable
{
    private const int TransactionSize = 100;
    private readonly StorageAccount _account;
    private readonly TableClient _table;
    private readonly ImageClassifier _classifier;
    private readonly Dictionary<string, List<TableTransactionAction>> _pending = new(StringComparer.Ordinal);

    private PredictionTableSink(StorageAccount account, TableClient table, ImageClassifier classifier)
    {
        _account = account;
        _table = table;
        _classifier = classifier;
    }

    public static async Task<PredictionTableSink> CreateAsync(StorageAccount account, string tableName, ImageClassifier classifier, CancellationToken ct)
    {
        var table = account.Table(tableName);
        await account.Resilience.ExecuteAsync(async c => await table.CreateIfNotExistsAsync(c), ct);
        return new PredictionTableSink(account, table, classifier);
    }

    public static PredictionEntity ToEntity(string container, ScoredImage scored, ImageClassifier classifier)
    {
        var row = PredictionEntity.From(container, scored.Id, scored, classifier.ModelId, classifier.ModelSha256);
        if (scored.State is BlobItem blob)
        {
            row.BlobETag = blob.Properties.ETag?.ToString();
            row.ContentLength = blob.Properties.ContentLength;
        }
        return row;
    }

    public async ValueTask WriteAsync(string container, ScoredImage scored, CancellationToken ct)
    {
        var entity = ToEntity(container, scored, _classifier);
        if (!_pending.TryGetValue(entity.PartitionKey, out var actions))
            _pending[entity.PartitionKey] = actions = new List<TableTransactionAction>(TransactionSize);
        actions.Add(new TableTransactionAction(TableTransactionActionType.UpsertReplace, entity));
        if (actions.Count >= TransactionSize)
            await FlushAsync(entity.PartitionKey, ct);
    }

    private async Task FlushAsync(string partition, CancellationToken ct)
    {
        var actions = _pending[partition];
        if (actions.Count == 0)
            return;
        // A transaction may not touch the same row twice (e.g. a folder listed twice): keep the last.
        var unique = actions.GroupBy(a => ((ITableEntity)a.Entity).RowKey).Select(g => g.Last()).ToList();
        await _account.Resilience.ExecuteAsync(async c => await _table.SubmitTransactionAsync(unique, c), ct);
        actions.Clear();
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var partition in _pending.Keys.ToList())
            await FlushAsync(partition, CancellationToken.None);
    }
}
