using System.Globalization;
using System.Text.Json;
using System.Text.Json.Serialization;
using ConvNeXt.Batch.Scoring.Labels;
using ConvNeXt.Batch.Scoring.Preprocessing;

namespace ConvNeXt.Batch.Scoring.Models;

/// <summary>Published accuracy that validation runs compare against.</summary>
public sealed record ReferenceAccuracy(double Top1, double? Top5, string Source);

/// <summary>What a model's output holds: raw scores that need a softmax, or probabilities already.</summary>
public enum ModelOutputKind { Logits, Probabilities }

/// <summary>
/// What an ONNX file says about itself, stored as ONNX <c>metadata_props</c> so that any ONNX tool
/// shows it and the file alone is enough to score images correctly.
/// </summary>
public sealed record ModelMetadata
{
    public const string ArchitectureKey = "convnext_batch.architecture";
    public const string PreprocessingKey = "convnext_batch.preprocessing";
    public const string LabelsKey = "convnext_batch.labels";
    public const string WeightsFormatKey = "convnext_batch.weights_format";
    public const string WeightsSha256Key = "convnext_batch.weights_sha256";
    public const string TrainedKey = "convnext_batch.trained";
    public const string PrecisionKey = "convnext_batch.precision";
    public const string ReferenceAccuracyKey = "convnext_batch.reference_accuracy";
    public const string OutputKey = "convnext_batch.output";
    public const string ParametersKey = "convnext_batch.parameters";
    public const string QuantizedKey = "convnext_batch.quantized";
    public const string CalibrationKey = "convnext_batch.calibration";

    public static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web)
    {
        Converters = { new JsonStringEnumConverter(JsonNamingPolicy.SnakeCaseLower) },
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
    };

    /// <summary>e.g. <c>convnext_tiny</c>; <c>null</c> for a model this project did not build.</summary>
    public string? Architecture { get; init; }
    public PreprocessingSettings? Preprocessing { get; init; }
    public ClassLabels? Labels { get; init; }
    /// <summary>timm, torchvision, hf, mindspore or random.</summary>
    public string? WeightsFormat { get; init; }
    public string? WeightsSha256 { get; init; }
    public bool? Trained { get; init; }
    /// <summary>fp32 or fp16.</summary>
    public string? Precision { get; init; }
    public ReferenceAccuracy? ReferenceAccuracy { get; init; }
    /// <summary>logits or probabilities; <c>null</c> for a model this project did not build.</summary>
    public ModelOutputKind? Output { get; init; }
    /// <summary>
    /// Learned parameters as the architecture's authors count them. The graph's initializers can hold
    /// fewer (BatchNorm folded into convolutions) or more (BatchNorm running statistics).
    /// </summary>
    public long? Parameters { get; init; }
    /// <summary><c>int8</c> for a model written by <c>model quantize</c>; <c>null</c> for a float model.</summary>
    public string? Quantized { get; init; }
    /// <summary>The images and method the int8 activation scales were calibrated with.</summary>
    public CalibrationRecord? Calibration { get; init; }

    public IReadOnlyDictionary<string, string> ToProperties()
    {
        var props = new Dictionary<string, string>();
        if (Architecture is not null) props[ArchitectureKey] = Architecture;
        if (Preprocessing is not null) props[PreprocessingKey] = JsonSerializer.Serialize(Preprocessing, Json);
        if (Labels is not null) props[LabelsKey] = Labels.Serialize();
        if (WeightsFormat is not null) props[WeightsFormatKey] = WeightsFormat;
        if (WeightsSha256 is not null) props[WeightsSha256Key] = WeightsSha256;
        if (Trained is not null) props[TrainedKey] = Trained.Value ? "true" : "false";
        if (Precision is not null) props[PrecisionKey] = Precision;
        if (ReferenceAccuracy is not null) props[ReferenceAccuracyKey] = JsonSerializer.Serialize(ReferenceAccuracy, Json);
        if (Output is { } output) props[OutputKey] = output == ModelOutputKind.Logits ? "logits" : "probabilities";
        if (Parameters is { } parameters) props[ParametersKey] = parameters.ToString(CultureInfo.InvariantCulture);
        if (Quantized is not null) props[QuantizedKey] = Quantized;
        if (Calibration is not null) props[CalibrationKey] = JsonSerializer.Serialize(Calibration, Json);
        return props;
    }

    public static ModelMetadata FromProperties(IReadOnlyDictionary<string, string> props)
    {
        string? Get(string key) => props.TryGetValue(key, out var v) ? v : null;
        return new ModelMetadata
        {
            Architecture = Get(ArchitectureKey),
            Preprocessing = Get(PreprocessingKey) is { } p ? JsonSerializer.Deserialize<PreprocessingSettings>(p, Json) : null,
            Labels = Get(LabelsKey) is { } l ? ClassLabels.Parse(l.Split('\n'), "model metadata") : null,
            WeightsFormat = Get(WeightsFormatKey),
            WeightsSha256 = Get(WeightsSha256Key),
            Trained = Get(TrainedKey) is { } t ? bool.Parse(t) : null,
            Precision = Get(PrecisionKey),
            ReferenceAccuracy = Get(ReferenceAccuracyKey) is { } r ? JsonSerializer.Deserialize<ReferenceAccuracy>(r, Json) : null,
            Output = Get(OutputKey) switch
            {
                null => null,
                "logits" => ModelOutputKind.Logits,
                "probabilities" => ModelOutputKind.Probabilities,
                var other => throw new FormatException($"{OutputKey} must be logits or probabilities, not '{other}'"),
            },
            Parameters = Get(ParametersKey) is { } n ? long.Parse(n, NumberStyles.None, CultureInfo.InvariantCulture) : null,
            Quantized = Get(QuantizedKey),
            Calibration = Get(CalibrationKey) is { } c ? JsonSerializer.Deserialize<CalibrationRecord>(c, Json) : null,
        };
    }

    public override string ToString() => string.Create(CultureInfo.InvariantCulture,
        $"{Architecture ?? "unknown"} ({(Quantized is null ? Precision ?? "fp32" : Quantized)}, weights {WeightsFormat ?? "?"}, trained {Trained?.ToString() ?? "?"})");
}
