namespace ConvNeXt.Batch.Scoring.Models;

/// <summary>
/// How an int8 model's activation scales were found: the method (minmax, percentile, entropy or mse),
/// how many images were run, and the SHA-256 of that image set (names and bytes), so a
/// re-quantization with the same set can be recognised; and how its weights were rounded
/// (nearest or gptq; absent in models made before GPTQ, which rounded to nearest), and whether its channels were equalised.
/// </summary>
public sealed record CalibrationRecord(string Method, int Images, string Sha256)
{
    public string? WeightRounding { get; init; }

    /// <summary>Whether the float model's channels were equalised before calibration (<c>model quantize --equalize</c>).</summary>
    public bool Equalized { get; init; }
}
