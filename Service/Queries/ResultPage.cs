using System.Buffers.Text;
using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;
using Azure.Data.Tables;
using Polly;

namespace ConvNeXt.Batch.Service.Queries;

/// <summary>One page of results; pass <see cref="ContinuationToken"/> back to get the next one (null = last page).</summary>
public sealed record ResultPage<T>(IReadOnlyList<T> Items, string? ContinuationToken);

/// <summary>Thrown for a query argument that cannot be used (bad token, bad top); maps to HTTP 400.</summary>
public sealed class QueryArgumentException(string message) : ArgumentException(message);

/// <summary>
/// Keyset paging: a page is the next <c>top</c> rows after the last (PartitionKey, RowKey) returned, so a
/// token is just those two keys (base64url JSON, opaque to callers). Filters are built with
/// <see cref="TableClient.CreateQueryFilter(FormattableString)"/>, which quotes and escapes every value.
/// </summary>
internal static class KeysetPaging
{
    public const int DefaultTop = 100;
    public const int MaxTop = 1000;

    private sealed record Position([property: JsonPropertyName("p")] string PartitionKey, [property: JsonPropertyName("r")] string RowKey);

    public static int Top(int? top)
    {
        if (top is null)
            return DefaultTop;
        if (top < 1 || top > MaxTop)
            throw new QueryArgumentException($"top must be between 1 and {MaxTop}");
        return top.Value;
    }

    /// <summary>Adds "after the token's position" to <paramref name="filter"/>.</summary>
    public static string After(string filter, string? continuationToken)
    {
        if (string.IsNullOrEmpty(continuationToken))
            return filter;
        var position = Decode(continuationToken);
        var after = TableClient.CreateQueryFilter(
            $"((PartitionKey eq {position.PartitionKey} and RowKey gt {position.RowKey}) or PartitionKey gt {position.PartitionKey})");
        return string.IsNullOrEmpty(filter) ? after : $"({filter}) and {after}";
    }

    public static async Task<ResultPage<T>> QueryAsync<TEntity, T>(
        TableClient table, ResiliencePipeline resilience, string filter, int top, string? continuationToken,
        Func<TEntity, T> map, CancellationToken cancellationToken)
        where TEntity : class, ITableEntity, new()
    {
        var fullFilter = After(filter, continuationToken);
        return await resilience.ExecuteAsync(async ct =>
        {
            var rows = new List<TEntity>(Math.Min(top + 1, 1001));
            await foreach (var row in table.QueryAsync<TEntity>(string.IsNullOrEmpty(fullFilter) ? null : fullFilter, maxPerPage: Math.Min(top + 1, 1000), cancellationToken: ct))
            {
                rows.Add(row);
                if (rows.Count > top)
                    break;
            }
            string? next = null;
            if (rows.Count > top)
            {
                rows.RemoveAt(rows.Count - 1);
                next = Encode(new Position(rows[^1].PartitionKey, rows[^1].RowKey));
            }
            return new ResultPage<T>(rows.Select(map).ToList(), next);
        }, cancellationToken);
    }

    private static string Encode(Position position) =>
        Base64Url.EncodeToString(JsonSerializer.SerializeToUtf8Bytes(position));

    private static Position Decode(string token)
    {
        try
        {
            return JsonSerializer.Deserialize<Position>(Base64Url.DecodeFromChars(token))
                ?? throw new QueryArgumentException("invalid continuation token");
        }
        catch (Exception e) when (e is FormatException or JsonException)
        {
            throw new QueryArgumentException("invalid continuation token");
        }
    }
}
