namespace ConvNeXt.Batch.Service.Operations;

/// <summary>A queue's messages by state: waiting to be delivered, scheduled for later, and dead-lettered.</summary>
public sealed record QueueCounts(string Queue, long Active, long Scheduled, long DeadLettered);
