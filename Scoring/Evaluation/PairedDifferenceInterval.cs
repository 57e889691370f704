namespace ConvNeXt.Batch.Scoring.Evaluation;

/// <summary>
/// A 95 % interval of the difference of two accuracies measured on the same images (second minus first):
/// Newcombe's hybrid score interval for paired proportions (Newcombe 1998, "Improved confidence intervals for the
/// difference between binomial proportions based on paired data", method 10, without continuity correction). It
/// combines each accuracy's Wilson interval with the correlation of the two classifiers' outcomes, so it is narrower
/// than an unpaired interval when they agree on most images, and stays inside [−1, 1].
/// </summary>
public static class PairedDifferenceInterval
{
    /// <param name="bothRight">Images both got right.</param>
    /// <param name="firstOnly">Images only the first got right.</param>
    /// <param name="secondOnly">Images only the second got right.</param>
    /// <param name="bothWrong">Images both got wrong.</param>
    public static ProportionInterval Newcombe(long bothRight, long firstOnly, long secondOnly, long bothWrong, double z = ProportionInterval.Z95)
    {
        if (bothRight < 0 || firstOnly < 0 || secondOnly < 0 || bothWrong < 0)
            throw new ArgumentOutOfRangeException(nameof(bothRight), "counts must not be negative");
        var n = bothRight + firstOnly + secondOnly + bothWrong;
        if (n == 0)
            return new ProportionInterval(0, -1, 1);
        var first = ProportionInterval.Wilson(bothRight + firstOnly, n, z);
        var second = ProportionInterval.Wilson(bothRight + secondOnly, n, z);
        var delta = (double)(secondOnly - firstOnly) / n;
        // φ: the correlation of the two outcomes over the 2×2 table; 0 when a margin is empty (no correlation to use).
        var margins = (double)(bothRight + firstOnly) * (secondOnly + bothWrong) * (bothRight + secondOnly) * (firstOnly + bothWrong);
        var phi = margins == 0 ? 0 : ((double)bothRight * bothWrong - (double)firstOnly * secondOnly) / Math.Sqrt(margins);
        var below = Spread(second.Estimate - second.Lower, first.Upper - first.Estimate, phi);
        var above = Spread(second.Upper - second.Estimate, first.Estimate - first.Lower, phi);
        return new ProportionInterval(delta, Math.Max(-1, delta - below), Math.Min(1, delta + above));
    }

    private static double Spread(double x, double y, double phi) => Math.Sqrt(Math.Max(0, x * x - 2 * phi * x * y + y * y));
}
