using System.Text.Json;
using System.Text.Json.Serialization;

namespace ConvNeXt.Batch.Service.Contracts;

/// <summary>One of the top-k classes of a prediction, as stored in the tables and returned by the API.</summary>
public sealed record PredictedClass(
    [property: JsonPropertyName("index")] int Index,
    [property: JsonPropertyName("wnid")] string? Wnid,
    [property: JsonPropertyName("name")] string? Name,
    [property: JsonPropertyName("probability")] double Probability)
{
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
    };
}
