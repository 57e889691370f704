namespace ConvNeXt.Batch.Service.Jobs;

/// <summary>What one planner step produced: the chunk messages to send, and the next step's message (null when the listing ended or the job stopped).</summary>
public sealed record JobStepResult(IReadOnlyList<JobChunkMessage> Chunks, JobPlanMessage? Next);
