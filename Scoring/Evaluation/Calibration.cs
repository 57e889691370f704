namespace ConvNeXt.Batch.Scoring.Evaluation;

/// <summary>
/// Images whose top-1 probability fell in [<see cref="Lower"/>, <see cref="Upper"/>): how many, how many were
/// right, and their summed top-1 probability in millionths (integers, so chunk merges stay exact).
/// </summary>
public sealed record CalibrationBin(int Index, double Lower, double Upper, long Images, long Correct, long ConfidenceMicros)
{
    /// <summary>Fraction right in this bin (0..1).</summary>
    public double Accuracy => Images == 0 ? 0 : (double)Correct / Images;

    /// <summary>Mean top-1 probability in this bin (0..1).</summary>
    public double MeanConfidence => Images == 0 ? 0 : (double)ConfidenceMicros / AccuracyCounts.ConfidenceScale / Images;
}

/// <summary>Confidence calibration of top-1 predictions: equal-width bins and the expected calibration error.</summary>
public static class Calibration
{
    /// <summary>Equal-width bins over [0, 1], as in Guo et al. 2017 ("On Calibration of Modern Neural Networks").</summary>
    public const int BinCount = 15;

    /// <summary>The bin of a top-1 probability given in millionths; integer arithmetic so every process agrees.</summary>
    public static int BinOf(long confidenceMicros)
    {
        var clamped = Math.Clamp(confidenceMicros, 0, AccuracyCounts.ConfidenceScale);
        return (int)Math.Min(BinCount - 1, clamped * BinCount / AccuracyCounts.ConfidenceScale);
    }

    /// <summary>
    /// ECE = Σ_b (n_b / N) · |accuracy_b − confidence_b| = Σ_b |correct_b − Σconfidence_b| / N, evaluated from
    /// the integer sums (confidence in millionths), so it equals the value computed over the pooled images.
    /// </summary>
    public static double ExpectedCalibrationError(IEnumerable<CalibrationBin> bins)
    {
        long images = 0;
        long gapMicros = 0;
        foreach (var bin in bins)
        {
            images += bin.Images;
            gapMicros += Math.Abs(bin.Correct * AccuracyCounts.ConfidenceScale - bin.ConfidenceMicros);
        }
        return images == 0 ? 0 : (double)gapMicros / AccuracyCounts.ConfidenceScale / images;
    }
}

/// <summary>A two-sided confidence interval of a proportion (0..1).</summary>
public readonly record struct ProportionInterval(double Estimate, double Lower, double Upper)
{
    /// <summary>z of a two-sided 95 % interval.</summary>
    public const double Z95 = 1.959963984540054;

    /// <summary>
    /// Wilson score interval of <paramref name="successes"/> out of <paramref name="trials"/>: unlike the normal
    /// approximation it stays inside [0, 1] and is usable for small runs and accuracies near 0 or 1.
    /// </summary>
    public static ProportionInterval Wilson(long successes, long trials, double z = Z95)
    {
        if (trials < 0 || successes < 0 || successes > trials)
            throw new ArgumentOutOfRangeException(nameof(successes), $"{successes} successes out of {trials} trials");
        if (trials == 0)
            return new ProportionInterval(0, 0, 1);
        var n = (double)trials;
        var p = successes / n;
        var z2 = z * z;
        var centre = (p + z2 / (2 * n)) / (1 + z2 / n);
        var half = z / (1 + z2 / n) * Math.Sqrt(p * (1 - p) / n + z2 / (4 * n * n));
        return new ProportionInterval(p, Math.Max(0, centre - half), Math.Min(1, centre + half));
    }

    public bool Contains(double value) => value >= Lower && value <= Upper;
}
