namespace ConvNeXt.Batch.Service.Services;

/// <summary>What one chunk delivery did.</summary>
public sealed record ChunkOutcome(string RunId, int ChunkIndex, int Scored, int Failed, bool Finalized, bool RunCompleted);
