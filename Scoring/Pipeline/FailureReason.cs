using ConvNeXt.Batch.Scoring.Preprocessing;

namespace ConvNeXt.Batch.Scoring.Pipeline;

/// <summary>
/// Why an image has no prediction: the reason names written to <see cref="ScoredImage.ErrorReason"/> and to the error rows,
/// and which of them are permanent, in one place. A permanent reason is a fact about the bytes (retrying gives the same
/// answer, so a row holding it is final); any other (a read that failed, the device, a decode timeout, a deleted blob) is
/// scored again when the blob comes back.
/// </summary>
public static class FailureReason
{
    /// <summary>The bytes could not be fetched (storage, a file that vanished).</summary>
    public const string ReadFailed = "ReadFailed";

    /// <summary>The batch failed on the device (out of memory, driver fault): not the images' fault.</summary>
    public const string InferenceFailed = "InferenceFailed";

    /// <summary>The blob was deleted before it was read.</summary>
    public const string BlobNotFound = "BlobNotFound";

    /// <summary>A failure with no reason recorded (older rows).</summary>
    public const string Failed = "Failed";

    public const string Empty = nameof(ImageRejectionReason.Empty);
    public const string TooLarge = nameof(ImageRejectionReason.TooLarge);
    public const string TooManyPixels = nameof(ImageRejectionReason.TooManyPixels);
    public const string Undecodable = nameof(ImageRejectionReason.Undecodable);
    public const string Unsupported = nameof(ImageRejectionReason.Unsupported);
    public const string Timeout = nameof(ImageRejectionReason.Timeout);

    private static readonly HashSet<string> Permanent = new(StringComparer.Ordinal) { Empty, Undecodable, TooLarge, TooManyPixels, Unsupported };

    /// <summary>The reason of a rejected image.</summary>
    public static string Of(ImageRejectionReason reason) => reason.ToString();

    /// <summary>True when retrying cannot change the answer (the bytes are empty, too large, corrupt or not an image).</summary>
    public static bool IsPermanent(string? reason) => reason is not null && Permanent.Contains(reason);

    /// <summary>True when a result needs no second try: a prediction, or an error whose reason is permanent.</summary>
    public static bool IsFinal(bool succeeded, string? reason) => succeeded || IsPermanent(reason);
}
