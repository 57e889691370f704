namespace ConvNeXt.Batch.Scoring.Benchmarking;

/// <summary>One model at one batch size.</summary>
public sealed record BenchResult(
    string Model,
    string? Architecture,
    string ExecutionProvider,
    int BatchSize,
    int RequestedBatchSize,
    int Cores,
    int IntraOpThreads,
    int DecodeWorkers,
    int Images,
    double ModelOnlyImgS,
    double ModelOnlyCpuMsPerImage,
    double EndToEndImgS,
    double EndToEndVsModelOnly,
    double PreprocessImgSPerCore,
    int ModelOnlyBatches,
    long EndToEndImages,
    long EndToEndErrors,
    BenchLatency BatchLatencyMs,
    long PeakWorkingSetBytes,
    long GcHeapBytes,
    long GcAllocatedBytes);
