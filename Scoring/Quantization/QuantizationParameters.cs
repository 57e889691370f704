namespace ConvNeXt.Batch.Scoring.Quantization;

/// <summary>
/// Scale and zero point of one quantized tensor, x ≈ (q − zeroPoint) × scale. Activations are
/// asymmetric uint8 and weights symmetric int8 (U8S8): ONNX Runtime's recommendation for x86-64,
/// where VNNI's u8×s8 dot product has no saturation problem.
/// </summary>
public readonly record struct QuantizationParameters(float Scale, int ZeroPoint)
{
    /// <summary>uint8 parameters for a range; the range is widened to hold 0 so that zero padding is exact.</summary>
    public static QuantizationParameters ForActivation(float min, float max)
    {
        min = Math.Min(min, 0f);
        max = Math.Max(max, 0f);
        var scale = (max - min) / 255f;
        if (!(scale > 0) || !float.IsFinite(scale))
            return new QuantizationParameters(1f, 0);
        var zeroPoint = (int)Math.Round(-min / scale, MidpointRounding.ToEven);
        return new QuantizationParameters(scale, Math.Clamp(zeroPoint, 0, 255));
    }

    /// <summary>Symmetric int8 over [−127, 127] (ORT keeps −128 out so that negation cannot overflow).</summary>
    public static float SymmetricScale(float maxAbs) => maxAbs > 0 && float.IsFinite(maxAbs) ? maxAbs / 127f : 1f;

    /// <summary>The int8 level of a weight on a symmetric grid: nearest step, ties to even, within ±127.</summary>
    public static int WeightLevel(double value, double scale) => (int)Math.Clamp(Math.Round(value / scale, MidpointRounding.ToEven), -127, 127);
}
