namespace ConvNeXt.Batch.Service.Local;

/// <summary>Images a <see cref="LocalScoreRun"/> has finished so far, of how many (when known up front).</summary>
public readonly record struct ScoreProgress(long Done, long Errors, long? Total);
