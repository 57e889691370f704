namespace ConvNeXt.Batch.Scoring.Preprocessing;

/// <summary>
/// Bounds on what one input may cost. An image beyond any of them is rejected with an
/// <see cref="ImageRejectedException"/> before it can exhaust memory or a worker.
/// </summary>
public sealed record ImageLimits
{
    /// <summary>Largest encoded input accepted, in bytes (default 64 MiB).</summary>
    public long MaxBytes { get; init; } = 64L * 1024 * 1024;

    /// <summary>
    /// Largest decoded image accepted, width × height, checked from the header before any pixel is
    /// decoded (default 100 megapixels) — the defence against decompression bombs.
    /// </summary>
    public long MaxPixels { get; init; } = 100_000_000;

    /// <summary>Longest time decoding and resizing one image may take (default 10 s).</summary>
    public TimeSpan DecodeTimeout { get; init; } = TimeSpan.FromSeconds(10);

    public static ImageLimits Default { get; } = new();
}
