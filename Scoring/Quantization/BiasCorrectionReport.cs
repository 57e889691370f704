namespace ConvNeXt.Batch.Scoring.Quantization;

/// <summary>What <see cref="BiasCorrection"/> did: how many biases it moved and how far the int8 output means were from float.</summary>
public sealed record BiasCorrectionReport
{
    /// <summary>Int8 Conv/MatMul/Gemm nodes whose bias was corrected.</summary>
    public int CorrectedNodes { get; init; }

    /// <summary>
    /// Before each pass and after the last: the per-channel output mean's shift from float (RMS over
    /// channels, relative to the RMS of the float means), averaged over the corrected nodes.
    /// </summary>
    public List<double> RelativeShift { get; } = [];
}
