namespace ConvNeXt.Batch.Scoring.Benchmarking;

/// <summary>What a <see cref="ThroughputBenchmark"/> measures: the same images, batch sizes and threads for every model.</summary>
public sealed record ThroughputBenchmarkOptions
{
    /// <summary>Image files for the preprocessing and end-to-end measurements (their tensors feed model-only).</summary>
    public required IReadOnlyList<string> Files { get; init; }
    /// <summary>ONNX model paths; ratios are to the first.</summary>
    public required IReadOnlyList<string> Models { get; init; }
    public required IReadOnlyList<int> BatchSizes { get; init; }
    /// <summary>Passes over the files end to end.</summary>
    public int Repeat { get; init; } = 1;
    /// <summary>Untimed model-only batches first.</summary>
    public int Warmup { get; init; } = 3;
    /// <summary>Timed model-only batches; <c>null</c>: as many images as the end-to-end pass.</summary>
    public int? Iterations { get; init; }
    /// <summary>Times each measurement is repeated, models taking turns; figures are medians.</summary>
    public int Rounds { get; init; } = 1;
    /// <summary>ONNX Runtime intra-op threads the models were loaded with (reported, not applied).</summary>
    public int IntraOpThreads { get; init; } = Environment.ProcessorCount;
    /// <summary>When set, the models were loaded with profiling into this folder and the report sums time by operator.</summary>
    public string? ProfileDirectory { get; init; }
}
