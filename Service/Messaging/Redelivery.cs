namespace ConvNeXt.Batch.Service.Messaging;

/// <summary>What becomes of a message whose processing threw.</summary>
public enum Redelivery
{
    /// <summary>Permanent: the message cannot be used, retrying gives the same answer; complete it without scoring (no dead-letter churn).</summary>
    Complete,

    /// <summary>Transient (storage, network, the device): fail the delivery so the message comes again, up to <see cref="RedeliveryPolicy.MaxDeliveries"/>.</summary>
    Retry,
}
