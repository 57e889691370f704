using System.Text.Json.Serialization;

namespace ConvNeXt.Batch.Service.Jobs;

/// <summary>Body of <c>POST /api/scoring-jobs</c>.</summary>
public sealed record ScoringJobRequest
{
    [JsonPropertyName("container")] public string? Container { get; init; }
    [JsonPropertyName("prefix")] public string? Prefix { get; init; }
    /// <summary>The model reference, <c>NAME@VERSION</c> (or <c>NAME</c>).</summary>
    [JsonPropertyName("model")] public string? Model { get; init; }
}
