using Azure;
using Azure.Data.Tables;

namespace ConvNeXt.Batch.Service.Jobs;

/// <summary>
/// <c>ScoringJobs</c>: PartitionKey = <see cref="PartitionKeyValue"/>, RowKey = job id. Planning and chunk progress
/// are recorded here under the row's ETag, so each planner step and each chunk is counted once.
/// </summary>
public sealed class ScoringJobEntity : ITableEntity
{
    public const string PartitionKeyValue = "job";

    public string PartitionKey { get; set; } = PartitionKeyValue;
    public string RowKey { get; set; } = "";
    public DateTimeOffset? Timestamp { get; set; }
    public ETag ETag { get; set; }

    public string Status { get; set; } = JobStates.Running;
    public string Container { get; set; } = "";
    public string? Prefix { get; set; }
    /// <summary>The model reference the job was started with (<c>NAME@VERSION</c>).</summary>
    public string Model { get; set; } = "";
    public string? ModelSha256 { get; set; }
    public int ChunkSize { get; set; }
    /// <summary>Key of the planner and chunk message signatures (base64); never leaves storage.</summary>
    public string SigningKey { get; set; } = "";
    public string? FailureReason { get; set; }
    public DateTimeOffset CreatedAt { get; set; }
    public DateTimeOffset? FinishedAt { get; set; }

    /// <summary>Planner steps recorded (a step lists a bounded number of pages); a redelivered step finds its number taken and adds nothing.</summary>
    public int PlanSteps { get; set; }
    public bool PlanningDone { get; set; }
    public int ChunksPlanned { get; set; }
    public long BlobsPlanned { get; set; }
    /// <summary>Bitmap of the chunks counted (bit i = chunk i), grown as chunks are planned.</summary>
    public byte[] ChunksDone { get; set; } = [];
    public int ChunksCompleted { get; set; }
    public long Scored { get; set; }
    public long Skipped { get; set; }
    public long Failed { get; set; }
    public DateTimeOffset? LastChunkAt { get; set; }
}
