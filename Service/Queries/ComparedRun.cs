using System.Text.Json.Serialization;

namespace ConvNeXt.Batch.Service.Queries;

/// <summary>One side of a <see cref="RunComparisonReport"/>: its accuracies over the images both runs have, with Wilson intervals.</summary>
public sealed record ComparedRun(
    [property: JsonPropertyName("run_id")] string RunId,
    [property: JsonPropertyName("model")] string? Model,
    [property: JsonPropertyName("model_sha256")] string? ModelSha256,
    [property: JsonPropertyName("top1")] double Top1,
    [property: JsonPropertyName("top5")] double Top5,
    [property: JsonPropertyName("count")] long Count,
    [property: JsonPropertyName("top1_ci")] double[] Top1Ci,
    [property: JsonPropertyName("top5_ci")] double[] Top5Ci);
