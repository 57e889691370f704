using System.Text.Json.Serialization;

namespace ConvNeXt.Batch.Service.Queries;

/// <summary>One class in a <see cref="RunComparisonReport"/>: its images, each run's top-1 on them, and B − A.</summary>
public sealed record ClassDelta(
    [property: JsonPropertyName("index")] int Index,
    [property: JsonPropertyName("wnid")] string? Wnid,
    [property: JsonPropertyName("name")] string? Name,
    [property: JsonPropertyName("count")] long Count,
    [property: JsonPropertyName("a_correct")] long ACorrect,
    [property: JsonPropertyName("b_correct")] long BCorrect)
{
    [JsonPropertyName("delta_top1")]
    public double DeltaTop1 => Count == 0 ? 0 : (double)(BCorrect - ACorrect) / Count;
}
