using System.Text.Json.Serialization;

namespace ConvNeXt.Batch.Service.Jobs;

/// <summary>
/// <c>GET /api/scoring-jobs/{id}</c>: a job and its progress. <see cref="Planned"/> counts blobs listed so far (final
/// once <see cref="PlanningDone"/>); <see cref="Done"/> blobs scored now, <see cref="Skipped"/> blobs this model had
/// already scored at the same ETag, <see cref="Failed"/> blobs that could not be scored (their rows say why).
/// </summary>
public sealed record ScoringJobStatus(
    [property: JsonPropertyName("jobId")] string JobId,
    [property: JsonPropertyName("status")] string Status,
    [property: JsonPropertyName("container")] string Container,
    [property: JsonPropertyName("prefix")] string? Prefix,
    [property: JsonPropertyName("model")] string Model,
    [property: JsonPropertyName("planningDone")] bool PlanningDone,
    [property: JsonPropertyName("chunksPlanned")] int ChunksPlanned,
    [property: JsonPropertyName("chunksDone")] int ChunksDone,
    [property: JsonPropertyName("planned")] long Planned,
    [property: JsonPropertyName("done")] long Done,
    [property: JsonPropertyName("skipped")] long Skipped,
    [property: JsonPropertyName("failed")] long Failed,
    [property: JsonPropertyName("imagesPerSecond")] double? ImagesPerSecond,
    [property: JsonPropertyName("createdAt")] DateTimeOffset CreatedAt,
    [property: JsonPropertyName("finishedAt")] DateTimeOffset? FinishedAt,
    [property: JsonPropertyName("failureReason")] string? FailureReason)
{
    internal static ScoringJobStatus From(ScoringJobEntity e)
    {
        var end = e.FinishedAt ?? e.LastChunkAt;
        var seconds = end is { } t ? (t - e.CreatedAt).TotalSeconds : 0;
        return new ScoringJobStatus(e.RowKey, e.Status, e.Container, e.Prefix, e.Model, e.PlanningDone, e.ChunksPlanned, e.ChunksCompleted,
            e.BlobsPlanned, e.Scored, e.Skipped, e.Failed, seconds > 0 ? Math.Round((e.Scored + e.Failed) / seconds, 2) : null, e.CreatedAt, e.FinishedAt, e.FailureReason);
    }
}
