using System.Text.Json.Serialization;

namespace ConvNeXt.Batch.Service.Jobs;

/// <summary>
/// One message on <c>scoring-job-plans</c>: planner step <see cref="Step"/> of a job lists pages from
/// <see cref="Continuation"/> (null: the start) and numbers its chunks from <see cref="FirstChunk"/>. Signed under the
/// job's key, so the listing position cannot be forged or moved.
/// </summary>
public sealed record JobPlanMessage
{
    [JsonPropertyName("jobId")] public required string JobId { get; init; }
    [JsonPropertyName("step")] public required int Step { get; init; }
    [JsonPropertyName("firstChunk")] public required int FirstChunk { get; init; }
    [JsonPropertyName("continuation")] public string? Continuation { get; init; }
    [JsonPropertyName("signature")] public string? Signature { get; init; }
}
