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
    [property: JsonPropertyName("error"), JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] string? Error)
{
    /// <summary>The model that scored the record: <c>NAME@VERSION</c> for a repository model, else the model file's id.</summary>
    [JsonPropertyName("model"), JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public string? Model { get; init; }

    /// <summary>SHA-256 of the model file that scored the record.</summary>
    [JsonPropertyName("model_sha256"), JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public string? ModelSha256 { get; init; }
}
