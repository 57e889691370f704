using Azure.Core;
using Azure.Messaging.ServiceBus;
using Azure.Messaging.ServiceBus.Administration;

namespace ConvNeXt.Batch.Service.Operations;

/// <summary>
/// The real Service Bus behind the operator seams: one namespace reached with an Entra ID credential
/// (<c>DefaultAzureCredential</c> from the CLI). Counting needs Manage rights on the queues (Azure Service
/// Bus Data Owner); listing and replaying need Receiver and Sender.
/// </summary>
public sealed class ServiceBusQueues(string fullyQualifiedNamespace, TokenCredential credential) : IQueueCounter, IAsyncDisposable
{
    private readonly ServiceBusClient _client = new(fullyQualifiedNamespace, credential);
    private readonly ServiceBusAdministrationClient _administration = new(fullyQualifiedNamespace, credential);

    public async Task<QueueCounts> CountAsync(string queue, CancellationToken cancellationToken)
    {
        var properties = (await _administration.GetQueueRuntimePropertiesAsync(queue, cancellationToken)).Value;
        return new QueueCounts(queue, properties.ActiveMessageCount, properties.ScheduledMessageCount, properties.DeadLetterMessageCount);
    }

    public DeadLetterService DeadLetters(string queue) =>
        new(new DeadLetterReceiver(_client.CreateReceiver(queue, new ServiceBusReceiverOptions
        {
            SubQueue = SubQueue.DeadLetter,
            ReceiveMode = ServiceBusReceiveMode.PeekLock,
        })), new QueueSender(_client.CreateSender(queue)));

    public ValueTask DisposeAsync() => _client.DisposeAsync();

    private sealed class DeadLetterReceiver(ServiceBusReceiver receiver) : IDeadLetterReceiver
    {
        // Long enough for a receive to return what is there, short enough that an empty queue ends the replay quickly.
        private static readonly TimeSpan Wait = TimeSpan.FromSeconds(5);

        public Task<IReadOnlyList<ServiceBusReceivedMessage>> PeekAsync(int max, long fromSequenceNumber, CancellationToken cancellationToken) =>
            receiver.PeekMessagesAsync(max, fromSequenceNumber, cancellationToken);

        public Task<IReadOnlyList<ServiceBusReceivedMessage>> ReceiveAsync(int max, CancellationToken cancellationToken) =>
            receiver.ReceiveMessagesAsync(max, Wait, cancellationToken);

        public Task CompleteAsync(ServiceBusReceivedMessage message, CancellationToken cancellationToken) =>
            receiver.CompleteMessageAsync(message, cancellationToken);

        public Task AbandonAsync(ServiceBusReceivedMessage message, CancellationToken cancellationToken) =>
            receiver.AbandonMessageAsync(message, cancellationToken: cancellationToken);
    }

    private sealed class QueueSender(ServiceBusSender sender) : IQueueSender
    {
        public Task SendAsync(ServiceBusMessage message, CancellationToken cancellationToken) =>
            sender.SendMessageAsync(message, cancellationToken);
    }
}
