using ConvNeXt.Batch.Service.Contracts;

namespace ConvNeXt.Batch.Service.Jobs;

/// <summary>One image of a <see cref="ScoreJob"/>: its top classes, best first, or why it could not be scored.</summary>
public sealed record ScoredRow(string Source, IReadOnlyList<PredictedClass>? Top, string? Error);
