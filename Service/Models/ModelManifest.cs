using System.Text.Json;
using System.Text.Json.Serialization;

namespace ConvNeXt.Batch.Service.Models;

/// <summary>
/// <c>models/{name}/{version}/manifest.json</c>: what a worker checks before it loads <c>model.onnx</c>
/// (its SHA-256, and that of the label table), and how to use it. Written once by <c>model push</c>.
/// </summary>
public sealed record ModelManifest
{
    public const string FileName = "manifest.json";
    public const string ModelFileName = "model.onnx";
    public const string LabelsFileName = "labels.txt";

    public static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web)
    {
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
        WriteIndented = true,
    };

    public required string Name { get; init; }
    public required string Version { get; init; }
    /// <summary>SHA-256 (lower-case hex) of <c>model.onnx</c>.</summary>
    public required string Sha256 { get; init; }
    public long Bytes { get; init; }
    public string? Architecture { get; init; }
    /// <summary>Preprocessing preset (timm, mindcv, torchvision, caffe) for a model that carries none; null = the model's own.</summary>
    public string? Preprocessing { get; init; }
    /// <summary>Blob path of the label table inside the model's folder, when one was pushed with it.</summary>
    public string? Labels { get; init; }
    public string? LabelsSha256 { get; init; }
    /// <summary>False for random weights: runs and reports show UNTRAINED.</summary>
    public bool Trained { get; init; } = true;
    public double? ReferenceTop1 { get; init; }
    public double? ReferenceTop5 { get; init; }
    public string? ReferenceSource { get; init; }
    public string? PushedBy { get; init; }
    public DateTimeOffset PushedAt { get; init; }

    [JsonIgnore]
    public ModelReference Reference => new(Name, Version);

    public string ToJson() => JsonSerializer.Serialize(this, Json);

    /// <exception cref="FormatException">Not a manifest.</exception>
    public static ModelManifest Parse(string json, string source)
    {
        try
        {
            return JsonSerializer.Deserialize<ModelManifest>(json, Json) ?? throw new FormatException($"{source} is empty");
        }
        catch (JsonException e)
        {
            throw new FormatException($"{source} is not a model manifest: {e.Message}", e);
        }
    }
}
