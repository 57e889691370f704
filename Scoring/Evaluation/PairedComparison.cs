using System.Globalization;

namespace ConvNeXt.Batch.Scoring.Evaluation;

/// <summary>
/// Two classifiers' top-1 outcomes on the same images, as the 2×2 table of agreement, and what follows from it:
/// each accuracy with its Wilson interval, the exact McNemar p-value on the discordant images, the accuracy
/// difference (B − A) with its paired interval, and the verdict at <see cref="Alpha"/>.
/// </summary>
public sealed record PairedComparison(long BothRight, long AOnly, long BOnly, long BothWrong, double Alpha = 0.05)
{
    public long Count => BothRight + AOnly + BOnly + BothWrong;

    public ProportionInterval TopA => ProportionInterval.Wilson(BothRight + AOnly, Count);

    public ProportionInterval TopB => ProportionInterval.Wilson(BothRight + BOnly, Count);

    /// <summary>Exact two-sided McNemar p-value (<see cref="McNemar.ExactPValue"/>).</summary>
    public double PValue => McNemar.ExactPValue(AOnly, BOnly);

    /// <summary>B's top-1 minus A's (a fraction), with Newcombe's paired 95 % interval.</summary>
    public ProportionInterval Delta => PairedDifferenceInterval.Newcombe(BothRight, AOnly, BOnly, BothWrong);

    public PairedVerdict Verdict =>
        PValue >= Alpha || AOnly == BOnly ? PairedVerdict.NoSignificantDifference
        : BOnly > AOnly ? PairedVerdict.BBetter : PairedVerdict.BWorse;

    /// <summary>
    /// B is not worse than A: the test does not find B significantly less accurate. What a promotion that requires
    /// "the candidate is not worse" asks.
    /// </summary>
    public bool BNotWorse => Verdict != PairedVerdict.BWorse;

    /// <summary>The one-line verdict ("B better at α = 0.05 (exact McNemar p = 0.0352)").</summary>
    public string VerdictText
    {
        get
        {
            var alpha = Alpha.ToString("0.###", CultureInfo.InvariantCulture);
            var p = PValue.ToString(PValue < 0.0001 ? "0.00E+0" : "0.####", CultureInfo.InvariantCulture);
            var what = Verdict switch
            {
                PairedVerdict.BBetter => "B better",
                PairedVerdict.BWorse => "B worse",
                _ => "no significant difference",
            };
            return $"{what} at α = {alpha} (exact McNemar p = {p})";
        }
    }
}
