using System.Text.Json;
using Azure.Core;
using Azure.Core.Pipeline;
using Azure.Data.Tables;

namespace ConvNeXt.Batch.TestSupport;

/// <summary>
/// Counts what a process asks of the table service: requests by kind and the entities the reads
/// returned (a query page counts each row in it). Add it with
/// <c>StorageOptions.ConfigureClients = TableTraffic.Attach(traffic)</c>; it sees every attempt, retries included.
/// </summary>
public sealed class TableTraffic : HttpPipelinePolicy
{
    private long _pointReads, _queries, _entitiesRead, _writes, _other;

    /// <summary>Single-entity GETs (<c>Table(PartitionKey='…',RowKey='…')</c>).</summary>
    public long PointReads => Interlocked.Read(ref _pointReads);

    /// <summary>Query requests (each page is one).</summary>
    public long Queries => Interlocked.Read(ref _queries);

    /// <summary>Entities returned by point reads and query pages.</summary>
    public long EntitiesRead => Interlocked.Read(ref _entitiesRead);

    /// <summary>Inserts, upserts, updates, deletes and transactions (one per request, a 100-row transaction is one).</summary>
    public long Writes => Interlocked.Read(ref _writes);

    /// <summary>Table creation and anything else.</summary>
    public long Other => Interlocked.Read(ref _other);

    public long Requests => PointReads + Queries + Writes + Other;

    public TableTrafficSnapshot Snapshot() => new(PointReads, Queries, EntitiesRead, Writes, Other);

    /// <summary>An options hook that adds <paramref name="traffic"/> to table clients only.</summary>
    public static Action<ClientOptions> Attach(TableTraffic traffic) => options =>
    {
        if (options is TableClientOptions)
            options.AddPolicy(traffic, HttpPipelinePosition.PerRetry);
    };

    public override void Process(HttpMessage message, ReadOnlyMemory<HttpPipelinePolicy> pipeline)
    {
        ProcessNext(message, pipeline);
        Count(message);
    }

    public override async ValueTask ProcessAsync(HttpMessage message, ReadOnlyMemory<HttpPipelinePolicy> pipeline)
    {
        await ProcessNextAsync(message, pipeline);
        Count(message);
    }

    private void Count(HttpMessage message)
    {
        var method = message.Request.Method;
        var path = message.Request.Uri.Path;
        if (method != RequestMethod.Get)
        {
            var tableAdmin = method == RequestMethod.Post && path.TrimEnd('/').EndsWith("/Tables", StringComparison.Ordinal);
            Interlocked.Increment(ref tableAdmin ? ref _other : ref _writes);
            return;
        }
        var pointRead = path.Contains("PartitionKey=", StringComparison.Ordinal) || path.Contains("PartitionKey%3D", StringComparison.Ordinal);
        Interlocked.Increment(ref pointRead ? ref _pointReads : ref _queries);
        if (!message.HasResponse || message.Response.Status != 200)
            return;
        if (pointRead)
        {
            Interlocked.Increment(ref _entitiesRead);
            return;
        }
        try
        {
            using var json = JsonDocument.Parse(message.Response.Content.ToMemory());
            if (json.RootElement.TryGetProperty("value", out var rows) && rows.ValueKind == JsonValueKind.Array)
                Interlocked.Add(ref _entitiesRead, rows.GetArrayLength());
        }
        catch (JsonException)
        {
        }
    }
}

public sealed record TableTrafficSnapshot(long PointReads, long Queries, long EntitiesRead, long Writes, long Other)
{
    public long Requests => PointReads + Queries + Writes + Other;

    public static TableTrafficSnapshot operator -(TableTrafficSnapshot a, TableTrafficSnapshot b) =>
        new(a.PointReads - b.PointReads, a.Queries - b.Queries, a.EntitiesRead - b.EntitiesRead, a.Writes - b.Writes, a.Other - b.Other);
}
