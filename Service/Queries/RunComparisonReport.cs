using System.Text.Json.Serialization;

namespace ConvNeXt.Batch.Service.Queries;

/// <summary>
/// <c>GET /api/validation-runs/compare?a=&amp;b=</c>: two completed runs on the same dataset, image by image. Accuracies
/// and the delta are fractions (0..1); the delta is B − A; intervals are [lower, upper] at 95 %.
/// </summary>
public sealed record RunComparisonReport(
    [property: JsonPropertyName("a")] ComparedRun A,
    [property: JsonPropertyName("b")] ComparedRun B,
    [property: JsonPropertyName("dataset_sha256")] string DatasetSha256,
    [property: JsonPropertyName("container")] string Container,
    [property: JsonPropertyName("both_right")] long BothRight,
    [property: JsonPropertyName("a_only")] long AOnly,
    [property: JsonPropertyName("b_only")] long BOnly,
    [property: JsonPropertyName("both_wrong")] long BothWrong,
    [property: JsonPropertyName("unmatched")] long Unmatched,
    [property: JsonPropertyName("test")] string Test,
    [property: JsonPropertyName("p_value")] double PValue,
    [property: JsonPropertyName("delta_top1")] double DeltaTop1,
    [property: JsonPropertyName("delta_top1_ci")] double[] DeltaTop1Ci,
    [property: JsonPropertyName("interval_method")] string IntervalMethod,
    [property: JsonPropertyName("verdict")] string Verdict,
    [property: JsonPropertyName("b_not_worse")] bool BNotWorse,
    [property: JsonPropertyName("per_class")] IReadOnlyList<ClassDelta> PerClass,
    [property: JsonPropertyName("disagreements")] IReadOnlyList<Disagreement> Disagreements);
