namespace ConvNeXt.Batch.Scoring.Quantization;

/// <summary>What <see cref="ModelQuantizer"/> did to a model.</summary>
public sealed record QuantizationReport
{
    public required string OutputPath { get; init; }
    /// <summary>Nodes that run in int8, by operator (e.g. Conv → 26).</summary>
    public required IReadOnlyDictionary<string, int> Int8Operators { get; init; }
    /// <summary>Nodes left in float, by operator.</summary>
    public required IReadOnlyDictionary<string, int> FloatOperators { get; init; }
    /// <summary>Tensors with a QuantizeLinear/DequantizeLinear pair.</summary>
    public required int QuantizedTensors { get; init; }
    /// <summary>Operators left in float for a reason the user should know (not handled, non-constant weights).</summary>
    public required IReadOnlyList<string> Notes { get; init; }
    public required bool UpcastFromFloat16 { get; init; }
    /// <summary>The model's opset before it was moved to 13 for per-channel quantization.</summary>
    public required long OriginalOpset { get; init; }
    public required long FileBytes { get; init; }
    /// <summary>Convolutions whose output channels <see cref="ChannelEqualization"/> rescaled (0 without <c>Equalize</c>).</summary>
    public int EqualizedConvolutions { get; init; }
}
