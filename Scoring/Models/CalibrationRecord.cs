namespace ConvNeXt.Batch.Scoring.Models;

/// <summary>
/// How an int8 model's activation scales were found: the method (minmax, percentile or entropy),
/// how many images were run, and the SHA-256 of that image set (names and bytes), so a
/// re-quantization with the same set can be recognised.
/// </summary>
public sealed record CalibrationRecord(string Method, int Images, string Sha256);
