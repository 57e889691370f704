namespace ConvNeXt.Batch.Scoring.Quantization;

/// <summary>How an activation's int8 range is chosen from what the calibration images produced.</summary>
public enum CalibrationMethod
{
    /// <summary>The observed minimum and maximum (ORT's MinMax calibrator).</summary>
    MinMax,
    /// <summary>Clip at a high percentile of |x| (ORT's Percentile calibrator, 99.999 by default).</summary>
    Percentile,
    /// <summary>The clipping threshold whose quantized histogram loses least information (KL divergence; ORT's Entropy calibrator, after TensorRT).</summary>
    Entropy,
    /// <summary>The clipping threshold with the least mean squared quantization error (rounding inside the range, clipping outside), from the same histogram.</summary>
    Mse,
}
