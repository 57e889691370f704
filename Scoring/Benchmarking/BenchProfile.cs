using ConvNeXt.Batch.Scoring.Inference;

namespace ConvNeXt.Batch.Scoring.Benchmarking;

/// <summary>Where ONNX Runtime spent a model's time, by operator (from its profiler).</summary>
public sealed record BenchProfile(string Model, string ProfilePath, IReadOnlyList<OperatorTime> Operators);
