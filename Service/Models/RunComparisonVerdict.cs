namespace ConvNeXt.Batch.Service.Models;

/// <summary>
/// The paired answer for runs A and B: images both scored, those only A got right (top-1) and only B,
/// the two-sided p-value of the test used, and whether B is not worse than A at α = 0.05.
/// </summary>
public sealed record RunComparisonVerdict(string RunA, string RunB, string? ModelA, string? ModelB, long Paired, long AOnly, long BOnly,
    double PValue, bool NotWorse, string Summary);
