namespace ConvNeXt.Batch.Service.Jobs;

/// <summary>What one chunk delivery did: whether it counted the chunk (first delivery only), its counts, and the job's status after.</summary>
public sealed record JobChunkOutcome(string JobId, int ChunkIndex, bool Counted, long Scored, long Skipped, long Failed, string JobStatus);
