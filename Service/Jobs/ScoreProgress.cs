namespace ConvNeXt.Batch.Service.Jobs;

/// <summary>Images a <see cref="ScoreJob"/> has finished so far, of how many (when known up front).</summary>
public readonly record struct ScoreProgress(long Done, long Errors, long? Total);
