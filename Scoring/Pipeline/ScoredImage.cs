using ConvNeXt.Batch.Scoring.Inference;

namespace ConvNeXt.Batch.Scoring.Pipeline;

/// <summary>
/// The outcome for one <see cref="ImageInput"/>: its top classes, or an error with a reason. Every
/// input produces exactly one.
/// </summary>
public sealed record ScoredImage(string Id, IReadOnlyList<ClassScore>? Top, string? Error)
{
    /// <summary>Why it failed: an <c>ImageRejectionReason</c> name (Empty, TooLarge, TooManyPixels, Undecodable, Unsupported, Timeout), <c>ReadFailed</c> or <c>InferenceFailed</c>.</summary>
    public string? ErrorReason { get; init; }

    public int? Label { get; init; }

    public object? State { get; init; }

    /// <summary>Time spent fetching the bytes.</summary>
    public TimeSpan ReadTime { get; init; }

    /// <summary>Time spent decoding and preprocessing.</summary>
    public TimeSpan PreprocessTime { get; init; }

    /// <summary>Time the model took for the whole batch this image was in.</summary>
    public TimeSpan InferenceTime { get; init; }

    /// <summary>Images in that batch.</summary>
    public int BatchSize { get; init; }

    /// <summary>Where the model ran for this image (<c>cpu</c> or <c>cuda:N</c>, <see cref="ImageClassifier.ExecutionProvider"/>); null when it never reached the model.</summary>
    public string? ExecutionProvider { get; init; }

    public bool Succeeded => Error is null;
}
