using ConvNeXt.Batch.Scoring.Evaluation;

namespace ConvNeXt.Batch.Service.Local;

/// <summary>
/// What one validation measured, whichever way it ran (in this process, or recorded through the
/// validation service). <see cref="Top1"/>, <see cref="Top5"/> in percent; <see cref="Count"/> is every
/// labelled image, scored or failed; <see cref="RunId"/> only for a recorded run.
/// </summary>
public sealed record ValidationOutcome(long Count, long Errors, double Top1, double Top5, double MeanConfidence,
    IReadOnlyList<ClassAccuracy> PerClass, IReadOnlyList<ConfusedPair> Confused, string? RunId);
