using ConvNeXt.Batch.Service.Validation;

namespace ConvNeXt.Batch.Service.Messaging;

/// <summary>
/// The one redelivery policy of validation chunk messages, used by the Functions handler (a failed invocation is
/// redelivered by Service Bus) and by <c>serve</c>'s in-process queue (which redelivers itself): which failures complete
/// the message and how many deliveries a chunk gets before it is dead-lettered.
/// </summary>
public static class RedeliveryPolicy
{
    /// <summary>Deliveries of one chunk before it is dead-lettered: the <c>validation-chunks</c> queue's <c>maxDeliveryCount</c>.</summary>
    public const int MaxDeliveries = 5;

    /// <summary>
    /// A chunk that is malformed or points at an unusable dataset is permanent; anything else (storage through every
    /// retry, a failed inference batch, an unexpected fault) is retried: a second delivery may succeed, and a poisoned
    /// chunk ends in the dead-letter queue after <see cref="MaxDeliveries"/>.
    /// </summary>
    public static Redelivery Classify(Exception exception) =>
        exception is InvalidChunkException or DatasetException ? Redelivery.Complete : Redelivery.Retry;

    /// <summary>True when delivery number <paramref name="delivery"/> (1-based) failed with <paramref name="exception"/> and another follows.</summary>
    public static bool DeliverAgain(Exception exception, int delivery) =>
        Classify(exception) == Redelivery.Retry && delivery < MaxDeliveries;
}
