using System.Text.Json.Serialization;

namespace ConvNeXt.Batch.Cli.Output;

/// <summary>One class of a prediction as written to files and tables.</summary>
public sealed record PredictedClass(
    [property: JsonPropertyName("index")] int Index,
    [property: JsonPropertyName("wnid")] string? Wnid,
    [property: JsonPropertyName("name")] string? Name,
    [property: JsonPropertyName("probability")] double Probability);

/// <summary>One output record per input: the top classes, or the reason it could not be scored.</summary>
public sealed record PredictionRecord(
    [property: JsonPropertyName("source")] string Source,
    [property: JsonPropertyName("top5"), JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] IReadOnlyList<PredictedClass>? Top5,
    [property: JsonPropertyName("error"), JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] string? Error);
