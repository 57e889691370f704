namespace ConvNeXt.Batch.Scoring.Quantization;

/// <summary>What <see cref="ModelQuantizer"/> does with a float model.</summary>
public sealed record QuantizationOptions
{
    public CalibrationMethod Method { get; init; } = CalibrationMethod.MinMax;

    /// <summary>Percentile of |x| kept by <see cref="CalibrationMethod.Percentile"/> (ORT's default).</summary>
    public double Percentile { get; init; } = 99.999;

    /// <summary>Leave the classifier head (the last Conv/MatMul/Gemm before the output) in float.</summary>
    public bool FloatHead { get; init; }

    /// <summary>Conv/MatMul/Gemm nodes (by name, or first output when unnamed) to leave in float.</summary>
    public IReadOnlyCollection<string> Exclude { get; init; } = [];

    /// <summary>Even out the channels of convolution outputs before calibration (<see cref="ChannelEqualization"/>).</summary>
    public bool Equalize { get; init; }

    /// <summary>How weights are rounded: nearest, or GPTQ against the calibration images' layer inputs.</summary>
    public WeightRounding WeightRounding { get; init; }

    /// <summary>Threads of the calibration session; 0: one per core.</summary>
    public int IntraOpThreads { get; init; }

    /// <summary>
    /// When set, the float32 graph the int8 one is made from (float16 upcast, no-ops removed, opset
    /// 13) is written here too, with the same metadata less the int8 keys: the fair fp32 baseline.
    /// </summary>
    public string? FloatOutputPath { get; init; }

    /// <summary>Called with (images done, images in all) while calibrating.</summary>
    public Action<int, int>? Progress { get; init; }
}
