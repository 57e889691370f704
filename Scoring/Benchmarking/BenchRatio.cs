namespace ConvNeXt.Batch.Scoring.Benchmarking;

/// <summary>
/// A compared model against the first, at one batch size (above 1: faster): throughput ratios, and
/// the ratio of CPU time per image (baseline's over this model's), which a busy machine distorts least.
/// </summary>
public sealed record BenchRatio(string Model, string Baseline, int BatchSize, double ModelOnly, double EndToEnd, double ModelOnlyCpu);
