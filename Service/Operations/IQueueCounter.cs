namespace ConvNeXt.Batch.Service.Operations;

/// <summary>Reads a queue's message counts (the seam <c>convnext-batch queues</c>' tests replace).</summary>
public interface IQueueCounter
{
    Task<QueueCounts> CountAsync(string queue, CancellationToken cancellationToken);
}
