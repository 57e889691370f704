using Azure.Data.Tables;
using ConvNeXt.Batch.Functions.Storage;

namespace ConvNeXt.Batch.Cli.Commands;

/// <summary>Reads the validation tables for <c>results runs</c> / <c>results run ID</c>.</summary>
internal static class ValidationResults
{
    public static async Task<IReadOnlyList<ValidationRunEntity>> ListRunsAsync(StorageAccount account, int top, CancellationToken ct)
    {
        await account.EnsureTablesAsync(ct);
        var runs = new List<ValidationRunEntity>();
        var filter = TableClient.CreateQueryFilter($"PartitionKey eq {ValidationRunEntity.PartitionKeyValue}");
        await foreach (var run in account.Table(TableNames.ValidationRuns).QueryAsync<ValidationRunEntity>(filter, cancellationToken: ct))
            runs.Add(run);
        return runs.OrderByDescending(r => r.CreatedAt).Take(top).ToList();
    }

    public static async Task<ValidationRunEntity?> GetRunAsync(StorageAccount account, string id, CancellationToken ct)
    {
        await account.EnsureTablesAsync(ct);
        var row = await account.Table(TableNames.ValidationRuns).GetEntityIfExistsAsync<ValidationRunEntity>(ValidationRunEntity.PartitionKeyValue, id, cancellationToken: ct);
        return row.HasValue ? row.Value : null;
    }

    public static async Task<IReadOnlyList<ValidationPredictionEntity>> WrongPredictionsAsync(StorageAccount account, string id, int top, CancellationToken ct)
    {
        var rows = new List<ValidationPredictionEntity>();
        var filter = TableClient.CreateQueryFilter($"PartitionKey eq {id} and Correct1 eq {false}");
        await foreach (var row in account.Table(TableNames.ValidationPredictions).QueryAsync<ValidationPredictionEntity>(filter, cancellationToken: ct))
        {
            rows.Add(row);
            if (rows.Count >= top)
                break;
        }
        return rows;
    }

    public static readonly IReadOnlyList<(string, Func<ValidationRunEntity, object?>)> RunColumns =
    [
        ("run", r => r.RowKey),
        ("status", r => r.Status),
        ("model", r => r.ModelId),
        ("dataset", r => $"{r.DatasetContainer}/{r.DatasetPrefix}"),
        ("images", r => r.ImageCount ?? r.ExpectedImageCount),
        ("errors", r => r.ErrorCount),
        ("top-1 %", r => r.Top1),
        ("top-5 %", r => r.Top5),
        ("reference top-1 %", r => r.ReferenceTop1),
        ("created", r => r.CreatedAt),
    ];

    public static readonly IReadOnlyList<(string, Func<ValidationPredictionEntity, object?>)> WrongColumns =
    [
        ("blob", r => r.BlobName),
        ("label", r => r.LabelName ?? r.LabelWnid),
        ("predicted", r => r.Top1Name ?? r.Top1Wnid ?? r.ErrorReason),
        ("p", r => r.Top1Probability),
        ("in top-5", r => r.Correct5),
    ];
}
