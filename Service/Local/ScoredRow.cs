using ConvNeXt.Batch.Service.Contracts;

namespace ConvNeXt.Batch.Service.Local;

/// <summary>One image of a <see cref="LocalScoreRun"/>: its top classes, best first, or why it could not be scored.</summary>
public sealed record ScoredRow(string Source, IReadOnlyList<PredictedClass>? Top, string? Error);
