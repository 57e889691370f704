using ConvNeXt.Batch.Scoring.Evaluation;

namespace ConvNeXt.Batch.Scoring.Tests.Evaluation;

public class PairedComparisonTests
{
    /// <summary>
    /// By hand: 50 images, both right on 30, only A on 3, only B on 12, both wrong on 5. The 15 discordant images
    /// give p = 2·P(X ≤ 3 | Binomial(15, ½)) = 2·(1 + 15 + 105 + 455)/2^15 = 1152/32768 = 0.03515625. Delta = (12 − 3)/50
    /// = 0.18. Newcombe's method 10: Wilson(33/50) = [0.5215, 0.7756], Wilson(42/50) = [0.7149, 0.9166],
    /// φ = (30·5 − 3·12)/√(33·17·42·8) = 0.26258, so [0.18 − 0.14640, 0.18 + 0.13954] = [0.03360, 0.31954].
    /// </summary>
    [Fact]
    public void A_hand_computed_table_gives_its_p_value_interval_and_verdict()
    {
        var c = new PairedComparison(BothRight: 30, AOnly: 3, BOnly: 12, BothWrong: 5);
        Assert.Equal(50, c.Count);
        Assert.Equal(0.03515625, c.PValue, 12);
        Assert.Equal(0.66, c.TopA.Estimate, 12);
        Assert.Equal(0.84, c.TopB.Estimate, 12);
        Assert.Equal(0.18, c.Delta.Estimate, 12);
        Assert.Equal(0.033603569227184715, c.Delta.Lower, 9);
        Assert.Equal(0.31954015541184155, c.Delta.Upper, 9);
        Assert.Equal(PairedVerdict.BBetter, c.Verdict);
        Assert.True(c.BNotWorse);
        Assert.Equal("B better at α = 0.05 (exact McNemar p = 0.0352)", c.VerdictText);

        // The same table seen from the other side: B worse, the interval mirrored.
        var swapped = new PairedComparison(30, 12, 3, 5);
        Assert.Equal((PairedVerdict.BWorse, false), (swapped.Verdict, swapped.BNotWorse));
        Assert.Equal(-0.31954015541184155, swapped.Delta.Lower, 9);
        Assert.Equal(-0.033603569227184715, swapped.Delta.Upper, 9);
    }

    [Theory]
    [InlineData(0, 0, 1.0)]
    [InlineData(0, 1, 1.0)]      // 2·½ = 1
    [InlineData(0, 5, 0.0625)]   // 2·(½)^5
    [InlineData(4, 4, 1.0)]      // 2·P(X ≤ 4 | 8) > 1, capped
    [InlineData(1, 9, 0.021484375)] // 2·(1 + 10)/1024
    public void Exact_p_values_of_small_tables(long aOnly, long bOnly, double expected) =>
        Assert.Equal(expected, McNemar.ExactPValue(aOnly, bOnly), 12);

    [Fact]
    public void Thousands_of_discordant_images_do_not_underflow()
    {
        // 500 against 600: the continuity-corrected normal approximation gives 2·(1 − Φ(99/√1100)) = 0.00284; the
        // exact value is close to it. Symmetric tables give 1, and a lopsided one a tiny but positive p.
        Assert.InRange(McNemar.ExactPValue(500, 600), 0.0025, 0.0032);
        Assert.Equal(1.0, McNemar.ExactPValue(20_000, 20_000), 12);
        var tiny = McNemar.ExactPValue(10_000, 12_000);
        Assert.True(tiny is > 0 and < 1e-20, tiny.ToString(System.Globalization.CultureInfo.InvariantCulture));
        Assert.Equal(PairedVerdict.NoSignificantDifference, new PairedComparison(40_000, 5_000, 5_050, 0).Verdict);
    }
}
