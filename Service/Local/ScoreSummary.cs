using System.Globalization;

namespace ConvNeXt.Batch.Service.Local;

/// <summary>What a <see cref="LocalScoreRun"/> did.</summary>
/// <param name="Unchanged">Blobs whose stored row already holds this blob version and model (not scored again).</param>
public sealed record ScoreSummary(long Images, long Errors, TimeSpan Elapsed, long Unchanged = 0)
{
    /// <summary>Files or blobs left out because they are not images by extension.</summary>
    public int NotImages { get; init; }

    /// <summary>The first of them, to name in a warning.</summary>
    public string? FirstNotImage { get; init; }

    public double ImagesPerSecond => Images / Math.Max(Elapsed.TotalSeconds, 1e-9);

    public override string ToString() => string.Create(CultureInfo.InvariantCulture,
        $"scored {Counted.Of(Images, "image")} ({Counted.Of(Errors, "error")}) in {Elapsed.TotalSeconds:F1} s: {ImagesPerSecond:F1} img/s") +
        (Unchanged > 0 ? $"; {Unchanged} unchanged since they were last scored, not scored again" : "");
}
