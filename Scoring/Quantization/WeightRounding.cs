namespace ConvNeXt.Batch.Scoring.Quantization;

/// <summary>How int8 weights are rounded to their per-channel grid.</summary>
public enum WeightRounding
{
    /// <summary>Each weight to its nearest step (ORT's quantizer).</summary>
    Nearest,
    /// <summary>Column by column, each rounding error compensated in the columns after it through the layer's input statistics (<see cref="GptqRounding"/>).</summary>
    Gptq,
}
