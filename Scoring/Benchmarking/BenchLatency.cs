namespace ConvNeXt.Batch.Scoring.Benchmarking;

/// <summary>Batch latency percentiles of the model-only measurement, in milliseconds.</summary>
public sealed record BenchLatency(double P50, double P95, double P99);
