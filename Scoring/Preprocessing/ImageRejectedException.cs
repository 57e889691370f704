namespace ConvNeXt.Batch.Scoring.Preprocessing;

public enum ImageRejectionReason
{
    /// <summary>No bytes at all.</summary>
    Empty,
    /// <summary>More encoded bytes than <see cref="ImageLimits.MaxBytes"/>.</summary>
    TooLarge,
    /// <summary>The header claims more pixels than <see cref="ImageLimits.MaxPixels"/>.</summary>
    TooManyPixels,
    /// <summary>A known format, but corrupt or truncated data.</summary>
    Undecodable,
    /// <summary>Not an image format this build reads, or a pixel layout that has no RGB meaning.</summary>
    Unsupported,
    /// <summary>Decoding took longer than <see cref="ImageLimits.DecodeTimeout"/>.</summary>
    Timeout,
}

/// <summary>One input image cannot be turned into a tensor; the reason says why.</summary>
public sealed class ImageRejectedException : Exception
{
    public ImageRejectedException(ImageRejectionReason reason, string message, Exception? inner = null)
        : base(message, inner) => Reason = reason;

    public ImageRejectionReason Reason { get; }
}
