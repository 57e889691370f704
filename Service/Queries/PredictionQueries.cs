using Azure.Data.Tables;
using ConvNeXt.Batch.Service.Contracts;
using ConvNeXt.Batch.Service.Models;
using ConvNeXt.Batch.Service.Storage;

namespace ConvNeXt.Batch.Service.Queries;

/// <summary>A row of <c>Predictions</c> as the API and the CLI show it.</summary>
public sealed record PredictionRecord(
    string Container,
    string Blob,
    string Status,
    string? ErrorReason,
    string? ErrorMessage,
    string? BlobETag,
    string? ModelId,
    string? ModelSha256,
    IReadOnlyList<PredictedClass> Top,
    DateTimeOffset ScoredAt,
    double? DownloadMilliseconds,
    double? ScoringMilliseconds)
{
    /// <summary>The repository model that scored the row (<c>NAME@VERSION</c>); null for the deployed model.</summary>
    public string? Model { get; init; }

    /// <summary>The execution provider that ran the model (null on rows written before it was recorded).</summary>
    public string? ExecutionProvider { get; init; }

    internal static PredictionRecord From(PredictionEntity e) => new(
        PredictionKeys.Container(e), e.BlobName, e.Status, e.ErrorReason, e.ErrorMessage, e.BlobETag, e.ModelId, e.ModelSha256,
        PredictedClass.FromJson(e.TopJson), e.ScoredAt, e.DownloadMilliseconds, e.ScoringMilliseconds)
    {
        Model = PredictionKeys.Model(e),
        ExecutionProvider = e.ExecutionProvider,
    };
}

public sealed record PredictionQuery
{
    /// <summary>Container; null = every container.</summary>
    public string? Container { get; init; }
    /// <summary>
    /// Only this repository model's rows (exact <c>NAME@VERSION</c>); null = the deployed model's rows of
    /// <see cref="Container"/>, or every model's rows when no container is given.
    /// </summary>
    public ModelReference? Model { get; init; }
    /// <summary>Blob name prefix (needs <see cref="Container"/>).</summary>
    public string? Prefix { get; init; }
    /// <summary><c>Scored</c> or <c>Failed</c>.</summary>
    public string? Status { get; init; }
    /// <summary>Top-1 WordNet id.</summary>
    public string? Wnid { get; init; }
    /// <summary>Only scored rows whose top-1 probability is below this (0..1).</summary>
    public double? ConfidenceBelow { get; init; }
    public int? Top { get; init; }
    public string? ContinuationToken { get; init; }
}

/// <summary>Reads <c>Predictions</c>: paged lists with filters and single rows.</summary>
public sealed class PredictionQueries(StorageAccount storage)
{
    private TableClient Table => storage.Table(TableNames.Predictions);

    public async Task<ResultPage<PredictionRecord>> ListAsync(PredictionQuery query, CancellationToken cancellationToken = default)
    {
        var top = KeysetPaging.Top(query.Top);
        var filter = BuildFilter(query);
        await storage.EnsureTablesAsync(cancellationToken);
        return await KeysetPaging.QueryAsync<PredictionEntity, PredictionRecord>(
            Table, storage.Resilience, filter, top, query.ContinuationToken, PredictionRecord.From, cancellationToken);
    }

    /// <remarks>
    /// The partition is not checked as a container name: rows of <c>score --table</c> over a local folder
    /// are partitioned by the folder's name. The blob name is checked like any untrusted name.
    /// </remarks>
    /// <exception cref="QueryArgumentException">The blob name has dot or empty segments, or is too long.</exception>
    public async Task<PredictionRecord?> GetAsync(string container, string blobName, CancellationToken cancellationToken = default) =>
        await GetAsync(container, blobName, null, cancellationToken);

    /// <summary>The row of <paramref name="blobName"/> written by <paramref name="model"/> (exact; null = the deployed model).</summary>
    public async Task<PredictionRecord?> GetAsync(string container, string blobName, ModelReference? model, CancellationToken cancellationToken = default)
    {
        if (BlobNames.Problem(blobName) is { } problem)
            throw new QueryArgumentException(problem);
        await storage.EnsureTablesAsync(cancellationToken);
        var row = await storage.Resilience.ExecuteAsync(async ct =>
            await Table.GetEntityIfExistsAsync<PredictionEntity>(PredictionKeys.Partition(container, model), TableKeys.Escape(blobName), cancellationToken: ct), cancellationToken);
        // The key is a function of the name; the name column says whose row it is (a shortened long key is a hash).
        return row.HasValue && string.Equals(row.Value!.BlobName, blobName, StringComparison.Ordinal) ? PredictionRecord.From(row.Value) : null;
    }

    /// <summary>Every clause goes through CreateQueryFilter: values are quoted and escaped, never spliced.</summary>
    internal static string BuildFilter(PredictionQuery query)
    {
        var clauses = new List<string>();
        if (query.Model is { IsExact: false } inexact)
            throw new QueryArgumentException($"model {inexact} must be resolved to NAME@VERSION before querying");
        if (!string.IsNullOrEmpty(query.Container))
            clauses.Add(TableClient.CreateQueryFilter($"PartitionKey eq {PredictionKeys.Partition(query.Container, query.Model)}"));
        else if (query.Model is { } model)
            clauses.Add(TableClient.CreateQueryFilter($"ModelName eq {model.Name} and ModelVersion eq {model.Version}"));
        if (!string.IsNullOrEmpty(query.Prefix))
        {
            if (string.IsNullOrEmpty(query.Container))
                throw new QueryArgumentException("prefix needs container");
            var low = TableKeys.Escape(query.Prefix);
            var high = TableKeys.PrefixUpperBound(low);
            clauses.Add(TableClient.CreateQueryFilter($"RowKey ge {low} and RowKey lt {high}"));
        }
        if (!string.IsNullOrEmpty(query.Status))
        {
            if (query.Status is not (RowStatus.Scored or RowStatus.Failed))
                throw new QueryArgumentException("status must be Scored or Failed");
            clauses.Add(TableClient.CreateQueryFilter($"Status eq {query.Status}"));
        }
        if (!string.IsNullOrEmpty(query.Wnid))
            clauses.Add(TableClient.CreateQueryFilter($"Top1Wnid eq {query.Wnid}"));
        if (query.ConfidenceBelow is { } below)
        {
            if (!(below is >= 0 and <= 1))
                throw new QueryArgumentException("confidence threshold must be between 0 and 1");
            clauses.Add(TableClient.CreateQueryFilter($"Top1Probability lt {below}"));
        }
        return string.Join(" and ", clauses);
    }
}
