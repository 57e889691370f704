using System.Text.Json.Serialization;

namespace ConvNeXt.Batch.Service.Jobs;

/// <summary>
/// One message on <c>scoring-job-chunks</c>: chunk <see cref="ChunkIndex"/> of a job, by reference to its list blob
/// (<c>scoring-jobs/{jobId}/chunk-NNNNNNN.jsonl</c>, written once by the planner) and that blob's SHA-256, signed.
/// </summary>
public sealed record JobChunkMessage
{
    [JsonPropertyName("jobId")] public required string JobId { get; init; }
    [JsonPropertyName("chunkIndex")] public required int ChunkIndex { get; init; }
    [JsonPropertyName("count")] public required int Count { get; init; }
    [JsonPropertyName("sha256")] public required string Sha256 { get; init; }
    [JsonPropertyName("signature")] public string? Signature { get; init; }
}
