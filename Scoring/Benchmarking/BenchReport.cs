namespace ConvNeXt.Batch.Scoring.Benchmarking;

/// <summary>Everything one benchmark run measured.</summary>
public sealed record BenchReport(IReadOnlyList<BenchResult> Runs, IReadOnlyList<BenchRatio> Ratios, IReadOnlyList<BenchProfile> Profiles);
