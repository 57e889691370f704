namespace ConvNeXt.Batch.Service.Operations;

/// <summary>
/// One dead-lettered message as an operator reads it: why Service Bus (or the handler) gave up on it,
/// and what it refers to: <see cref="Refers"/> is <c>blob images/a.jpg</c>, <c>run R chunk N/M</c>,
/// <c>job J</c>, or <c>unreadable: ...</c> for a body that is none of the project's messages.
/// </summary>
public sealed record DeadLetter(long SequenceNumber, string? MessageId, string? Reason, string? Description, int DeliveryCount,
    DateTimeOffset EnqueuedTime, string Refers);
