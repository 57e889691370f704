using Azure;
using Azure.Data.Tables;

namespace ConvNeXt.Batch.Service.Jobs;

/// <summary>
/// <c>ScoringJobChunks</c>: PartitionKey = job id, RowKey = chunk index (zero-padded). Inserted once, by the first
/// delivery that finished the chunk; later deliveries read it, so the job adds the same counts whoever wins.
/// </summary>
public sealed class ScoringJobChunkEntity : ITableEntity
{
    public string PartitionKey { get; set; } = "";
    public string RowKey { get; set; } = "";
    public DateTimeOffset? Timestamp { get; set; }
    public ETag ETag { get; set; }

    public int ChunkIndex { get; set; }
    public long Scored { get; set; }
    public long Skipped { get; set; }
    public long Failed { get; set; }
    /// <summary>The ONNX Runtime execution provider that scored the chunk (cpu, cuda, …).</summary>
    public string? ExecutionProvider { get; set; }
    public DateTimeOffset ScoredAt { get; set; }
}
