using System.Text.Json.Serialization;
using ConvNeXt.Batch.Service.Contracts;

namespace ConvNeXt.Batch.Cli.Output;

/// <summary>
/// One output record of <c>score</c> and <c>predict --json</c> per input: the top classes (as many as
/// <c>--top</c> asks, best first; the key is <c>top</c> whatever their number, as in the Predictions API),
/// or the reason it could not be scored.
/// </summary>
public sealed record ScoreRecord(
    [property: JsonPropertyName("source")] string Source,
    [property: JsonPropertyName("top"), JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] IReadOnlyList<PredictedClass>? Top,
    [property: JsonPropertyName("error"), JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] string? Error);
