namespace ConvNeXt.Batch.Scoring.Pipeline;

public sealed record ScoringPipelineOptions
{
    /// <summary>Images per inference call (the model's own size for fixed-batch models is handled by the classifier).</summary>
    public int BatchSize { get; init; } = 16;

    /// <summary>A batch that is not full closes this long after its first image arrived.</summary>
    public TimeSpan MaxWait { get; init; } = TimeSpan.FromMilliseconds(50);

    /// <summary>Threads decoding and preprocessing images.</summary>
    public int DecodeWorkers { get; init; } = Environment.ProcessorCount;

    /// <summary>Inputs whose bytes are being fetched at once.</summary>
    public int ReadConcurrency { get; init; } = 8;

    /// <summary>Fetched-but-undecoded inputs and finished-but-unconsumed results held in memory (each queue).</summary>
    public int Capacity { get; init; } = 64;

    /// <summary>Classes reported per image.</summary>
    public int TopK { get; init; } = 5;

    /// <summary>Batch tensors allocated up front and reused (one filling, one in the model, one spare).</summary>
    public int BatchBuffers { get; init; } = 3;

    /// <summary>
    /// When set, a <c>decode</c> span per image and an <c>infer</c> span per model batch are started
    /// on this source (children of the caller's current span); the service passes its own.
    /// </summary>
    public System.Diagnostics.ActivitySource? Tracing { get; init; }

    /// <summary>Whether <see cref="Tracing"/> also gets a span per image (decode), not only per batch (infer).</summary>
    public bool ImageSpans { get; init; } = true;

    /// <summary>Limits applied to every image; <c>null</c>: <see cref="Preprocessing.ImageLimits.Default"/>.</summary>
    public Preprocessing.ImageLimits? Limits { get; init; }
}
