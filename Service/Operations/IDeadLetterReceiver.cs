using Azure.Messaging.ServiceBus;

namespace ConvNeXt.Batch.Service.Operations;

/// <summary>The dead-letter sub-queue of one queue, as <see cref="DeadLetterService"/> uses it (the seam its tests replace).</summary>
public interface IDeadLetterReceiver
{
    /// <summary>Up to <paramref name="max"/> messages from sequence number <paramref name="fromSequenceNumber"/> on, without locking them.</summary>
    Task<IReadOnlyList<ServiceBusReceivedMessage>> PeekAsync(int max, long fromSequenceNumber, CancellationToken cancellationToken);

    /// <summary>Up to <paramref name="max"/> messages, locked (peek-lock); an empty list when none arrives within the wait.</summary>
    Task<IReadOnlyList<ServiceBusReceivedMessage>> ReceiveAsync(int max, CancellationToken cancellationToken);

    Task CompleteAsync(ServiceBusReceivedMessage message, CancellationToken cancellationToken);

    /// <summary>Releases the lock: the message stays in the dead-letter queue.</summary>
    Task AbandonAsync(ServiceBusReceivedMessage message, CancellationToken cancellationToken);
}
