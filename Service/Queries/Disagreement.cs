using System.Text.Json.Serialization;

namespace ConvNeXt.Batch.Service.Queries;

/// <summary>An image exactly one of the two compared runs got right (top-1).</summary>
public sealed record Disagreement(
    [property: JsonPropertyName("blob")] string Blob,
    [property: JsonPropertyName("label_index")] int LabelIndex,
    [property: JsonPropertyName("label")] string? Label,
    [property: JsonPropertyName("a_predicted")] string? APredicted,
    [property: JsonPropertyName("b_predicted")] string? BPredicted,
    [property: JsonPropertyName("right")] string Right);
