using System.Text.Json;
using System.Text.Json.Serialization;
using ConvNeXt.Batch.Scoring.Inference;

namespace ConvNeXt.Batch.Service.Contracts;

/// <summary>One of the top-k classes of a prediction, as stored in the tables and returned by the API.</summary>
public sealed record PredictedClass(
    [property: JsonPropertyName("index")] int Index,
    [property: JsonPropertyName("wnid")] string? Wnid,
    [property: JsonPropertyName("name")] string? Name,
    [property: JsonPropertyName("probability")] double Probability)
{
    /// <summary>The one mapping from the scorer's class score (probability rounded to 6 digits for storage).</summary>
    public static PredictedClass From(ClassScore score) =>
        new(score.Index, score.Wnid, score.Name, Math.Round(score.Probability, 6));

    /// <summary>The top-k of a result, or null when it has none (an error).</summary>
    public static List<PredictedClass>? From(IEnumerable<ClassScore>? top) => top?.Select(From).ToList();

    public static string ToJson(IReadOnlyList<PredictedClass> top) => JsonSerializer.Serialize(top, ContractJson.Options);

    public static IReadOnlyList<PredictedClass> FromJson(string? json) =>
        string.IsNullOrEmpty(json) ? [] : JsonSerializer.Deserialize<List<PredictedClass>>(json, ContractJson.Options) ?? [];
}

public static class ContractJson
{
    public static readonly JsonSerializerOptions Options = new(JsonSerializerDefaults.Web)
    {
        DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
        Converters = { new JsonStringEnumConverter() },
        // Names and messages as written ("it's", "猫"), not \u0027: answers are application/json (nosniff), never inlined into HTML.
        Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
    };
}
