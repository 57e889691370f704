using System.Text.Json.Serialization;
using ConvNeXt.Batch.Service.Contracts;

namespace ConvNeXt.Batch.Cli.Output;

/// <summary>One output record of <c>score</c> per input: the top classes, or the reason it could not be scored.</summary>
public sealed record ScoreRecord(
    [property: JsonPropertyName("source")] string Source,
    [property: JsonPropertyName("top5"), JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] IReadOnlyList<PredictedClass>? Top5,
    [property: JsonPropertyName("error"), JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] string? Error);
