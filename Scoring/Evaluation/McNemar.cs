namespace ConvNeXt.Batch.Scoring.Evaluation;

/// <summary>
/// The exact McNemar test of two classifiers scored on the same images. Only the discordant images carry
/// information: under "both are equally accurate" each of the n = b + c discordant images is equally likely to
/// favour either side, so b ~ Binomial(n, ½). The two-sided exact (not mid-p) p-value is
/// min(1, 2·P(X ≤ min(b, c))), which never rejects more often than α.
/// </summary>
public static class McNemar
{
    /// <param name="aOnly">Images only the first classifier got right (b).</param>
    /// <param name="bOnly">Images only the second classifier got right (c).</param>
    public static double ExactPValue(long aOnly, long bOnly)
    {
        if (aOnly < 0 || bOnly < 0)
            throw new ArgumentOutOfRangeException(nameof(aOnly), $"discordant counts must not be negative ({aOnly}, {bOnly})");
        var n = aOnly + bOnly;
        if (n == 0)
            return 1;
        var k = Math.Min(aOnly, bOnly);
        // Summed in log space: 2^-n underflows a double beyond n ≈ 1074 discordant images, and a 50,000-image run
        // can have more than that.
        var logPmf = -n * Math.Log(2);
        var logTail = logPmf;
        for (long i = 0; i < k; i++)
        {
            logPmf += Math.Log((double)(n - i) / (i + 1));
            logTail = LogAdd(logTail, logPmf);
        }
        return Math.Min(1, 2 * Math.Exp(logTail));
    }

    private static double LogAdd(double x, double y)
    {
        var (high, low) = x >= y ? (x, y) : (y, x);
        return high + Math.Log(1 + Math.Exp(low - high));
    }
}
