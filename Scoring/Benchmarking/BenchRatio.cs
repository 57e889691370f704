namespace ConvNeXt.Batch.Scoring.Benchmarking;

/// <summary>
/// A compared model against the first, at one requested batch size, labelled with the batch the model ran at (a fixed-batch
/// model runs its own) (above 1: faster): throughput ratios, and
/// the ratio of CPU time per image (baseline's over this model's), which a busy machine distorts least.
/// </summary>
public sealed record BenchRatio(string Model, string Baseline, int BatchSize, double ModelOnly, double EndToEnd, double ModelOnlyCpu);
