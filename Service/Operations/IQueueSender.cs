using Azure.Messaging.ServiceBus;

namespace ConvNeXt.Batch.Service.Operations;

/// <summary>Sends to one queue (the seam <see cref="DeadLetterService"/>'s tests replace).</summary>
public interface IQueueSender
{
    Task SendAsync(ServiceBusMessage message, CancellationToken cancellationToken);
}
