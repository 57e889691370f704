using Azure.Messaging.ServiceBus;
using ConvNeXt.Batch.Cli.Commands;
using ConvNeXt.Batch.Service.Operations;

namespace ConvNeXt.Batch.Cli.Tests;

/// <summary>
/// The operator's dead-letter tools over a recording receiver/sender seam, with messages built by the SDK's
/// <see cref="ServiceBusModelFactory"/> in the project's own contracts. Nothing here reaches a real namespace
/// (docs/cli.md says what that leaves unverified).
/// </summary>
public sealed class DeadLetterServiceTests
{
    /// <summary>Both seams, writing one shared log so the order of sends and completions can be asserted.</summary>
    private sealed class RecordingQueue(IReadOnlyList<ServiceBusReceivedMessage> deadLetters) : IDeadLetterReceiver, IQueueSender
    {
        private readonly Queue<ServiceBusReceivedMessage> _waiting = new(deadLetters);
        public List<string> Log { get; } = [];
        public List<ServiceBusMessage> Sent { get; } = [];
        public Func<ServiceBusMessage, bool> SendFails { get; init; } = _ => false;
        public Func<ServiceBusReceivedMessage, bool> CompleteFails { get; init; } = _ => false;

        public Task<IReadOnlyList<ServiceBusReceivedMessage>> PeekAsync(int max, long fromSequenceNumber, CancellationToken cancellationToken)
        {
            Log.Add($"peek {fromSequenceNumber}");
            return Task.FromResult<IReadOnlyList<ServiceBusReceivedMessage>>(
                deadLetters.Where(m => m.SequenceNumber >= fromSequenceNumber).Take(max).ToList());
        }

        public Task<IReadOnlyList<ServiceBusReceivedMessage>> ReceiveAsync(int max, CancellationToken cancellationToken)
        {
            var batch = new List<ServiceBusReceivedMessage>();
            while (batch.Count < max && _waiting.TryDequeue(out var m))
                batch.Add(m);
            Log.Add($"receive {batch.Count}");
            return Task.FromResult<IReadOnlyList<ServiceBusReceivedMessage>>(batch);
        }

        public Task CompleteAsync(ServiceBusReceivedMessage message, CancellationToken cancellationToken)
        {
            if (CompleteFails(message))
                throw new ServiceBusException("lock lost", ServiceBusFailureReason.MessageLockLost);
            Log.Add($"complete {message.SequenceNumber}");
            return Task.CompletedTask;
        }

        public Task AbandonAsync(ServiceBusReceivedMessage message, CancellationToken cancellationToken)
        {
            Log.Add($"abandon {message.SequenceNumber}");
            return Task.CompletedTask;
        }

        public Task SendAsync(ServiceBusMessage message, CancellationToken cancellationToken)
        {
            if (SendFails(message))
                throw new ServiceBusException("namespace unreachable", ServiceBusFailureReason.ServiceCommunicationProblem);
            Log.Add($"send {message.ApplicationProperties[DeadLetterService.ReplayedFromProperty]}");
            Sent.Add(message);
            return Task.CompletedTask;
        }
    }

    private static readonly DateTimeOffset Enqueued = new(2026, 12, 1, 8, 30, 0, TimeSpan.Zero);

    private static ServiceBusReceivedMessage DeadLetter(long sequence, string body, string reason, string description, int deliveries = 10) =>
        ServiceBusModelFactory.ServiceBusReceivedMessage(
            body: BinaryData.FromString(body), messageId: $"m{sequence}", contentType: "application/json", subject: "s" + sequence,
            properties: new Dictionary<string, object>
            {
                ["DeadLetterReason"] = reason,
                ["DeadLetterErrorDescription"] = description,
                ["trace"] = "t" + sequence,
            },
            deliveryCount: deliveries, sequenceNumber: sequence, enqueuedTime: Enqueued, lockTokenGuid: Guid.NewGuid());

    // The project's own contracts: an Event Grid BlobCreated event (as Event Grid delivers it) and a validation chunk.
    private static string BlobCreated(string container, string blob) =>
        $$"""{"id":"e1","eventType":"Microsoft.Storage.BlobCreated","subject":"/blobServices/default/containers/{{container}}/blobs/{{blob}}","data":{"contentLength":1234,"eTag":"0x1"},"eventTime":"2026-12-01T08:29:00Z","dataVersion":"","metadataVersion":"1"}""";

    private static string Chunk(string run, int index, int count) =>
        $$"""{"runId":"{{run}}","chunkIndex":{{index}},"chunkCount":{{count}},"container":"validation","plan":{"offset":0,"length":10,"count":2,"sha256":"ab"},"signature":"x"}""";

    private static List<ServiceBusReceivedMessage> Letters() =>
    [
        DeadLetter(11, BlobCreated("images", "2026/cat one.jpg"), "MaxDeliveryCountExceeded", "Message could not be consumed after 10 delivery attempts."),
        DeadLetter(12, Chunk("run-7", 3, 40), "MaxDeliveryCountExceeded", "Message could not be consumed after 5 delivery attempts.", 5),
        DeadLetter(13, """{"jobId":"job-42","container":"images"}""", "TTLExpiredException", "expired"),
        DeadLetter(14, "not json", "MaxDeliveryCountExceeded", "line one\nline two"),
    ];

    [Fact]
    public async Task List_says_why_each_message_died_and_what_it_refers_to_without_changing_anything()
    {
        var queue = new RecordingQueue(Letters());
        var listed = await new DeadLetterService(queue, queue).ListAsync(10);

        Assert.Equal([11L, 12L, 13L, 14L], listed.Select(d => d.SequenceNumber));
        Assert.Equal("blob images/2026/cat one.jpg", listed[0].Refers);
        Assert.Equal("run run-7 chunk 3/40", listed[1].Refers);
        Assert.Equal("job job-42", listed[2].Refers);
        Assert.Equal("unreadable: not json", listed[3].Refers);
        Assert.Equal(("MaxDeliveryCountExceeded", "Message could not be consumed after 5 delivery attempts.", 5, Enqueued),
            (listed[1].Reason, listed[1].Description, listed[1].DeliveryCount, listed[1].EnqueuedTime));
        // Peeks only: nothing received, sent, completed or abandoned.
        Assert.All(queue.Log, l => Assert.StartsWith("peek", l, StringComparison.Ordinal));
        Assert.Empty(queue.Sent);

        var output = new StringWriter();
        DeadLettersCommand.Write(output, listed);
        var lines = output.ToString().Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal("11\t2026-12-01T08:30:00Z\t10\tMaxDeliveryCountExceeded\tMessage could not be consumed after 10 delivery attempts.\tblob images/2026/cat one.jpg", lines[0].TrimEnd('\r'));
        Assert.Contains("\tline one line two\t", lines[3]);
    }

    [Fact]
    public async Task List_pages_by_sequence_number_up_to_max()
    {
        var many = Enumerable.Range(1, 120).Select(i => DeadLetter(i, BlobCreated("images", $"{i}.jpg"), "MaxDeliveryCountExceeded", "x")).ToList();
        var queue = new RecordingQueue(many);
        var listed = await new DeadLetterService(queue, queue).ListAsync(110);
        Assert.Equal(Enumerable.Range(1, 110).Select(i => (long)i), listed.Select(d => d.SequenceNumber));
        Assert.Equal(["peek 0", "peek 51", "peek 101"], queue.Log);
    }

    [Fact]
    public async Task Replay_sends_each_message_before_completing_its_dead_lettered_copy_with_the_same_content()
    {
        var letters = Letters();
        var queue = new RecordingQueue(letters);
        var outcome = await new DeadLetterService(queue, queue).ReplayAsync(10, dryRun: false);

        Assert.Null(outcome.Failure);
        Assert.False(outcome.DryRun);
        Assert.Equal([11L, 12L, 13L, 14L], outcome.Replayed.Select(d => d.SequenceNumber));
        Assert.Equal(["receive 4", "send 11", "complete 11", "send 12", "complete 12", "send 13", "complete 13", "send 14", "complete 14", "receive 0"], queue.Log);
        for (var i = 0; i < letters.Count; i++)
        {
            var (original, copy) = (letters[i], queue.Sent[i]);
            Assert.Equal(original.Body.ToString(), copy.Body.ToString());
            Assert.Equal((original.MessageId, original.ContentType, original.Subject), (copy.MessageId, copy.ContentType, copy.Subject));
            Assert.Equal(original.ApplicationProperties["trace"], copy.ApplicationProperties["trace"]);
            // The dead-letter reason does not travel with the copy; where it came from does.
            Assert.False(copy.ApplicationProperties.ContainsKey("DeadLetterReason"));
            Assert.False(copy.ApplicationProperties.ContainsKey("DeadLetterErrorDescription"));
            Assert.Equal(original.SequenceNumber, copy.ApplicationProperties[DeadLetterService.ReplayedFromProperty]);
        }
    }

    [Fact]
    public async Task Replay_stops_at_a_failed_send_and_leaves_that_message_and_the_rest_dead_lettered()
    {
        var queue = new RecordingQueue(Letters()) { SendFails = m => m.MessageId == "m12" };
        var outcome = await new DeadLetterService(queue, queue).ReplayAsync(10, dryRun: false);

        Assert.Equal([11L], outcome.Replayed.Select(d => d.SequenceNumber));
        Assert.Equal(["receive 4", "send 11", "complete 11", "abandon 12", "abandon 13", "abandon 14"], queue.Log);
        Assert.StartsWith("sending message 12 (run run-7 chunk 3/40) failed: namespace unreachable", outcome.Failure);
        Assert.EndsWith("it stays dead-lettered", outcome.Failure);
    }

    [Fact]
    public async Task Replay_reports_a_copy_that_was_sent_but_could_not_be_removed()
    {
        var queue = new RecordingQueue(Letters()) { CompleteFails = m => m.SequenceNumber == 11 };
        var outcome = await new DeadLetterService(queue, queue).ReplayAsync(10, dryRun: false);
        // Sent, so counted; never completed before its send, and the rest untouched.
        Assert.Equal([11L], outcome.Replayed.Select(d => d.SequenceNumber));
        Assert.Equal(["receive 4", "send 11", "abandon 12", "abandon 13", "abandon 14"], queue.Log);
        Assert.Contains("was sent again but its dead-lettered copy could not be removed", outcome.Failure);
    }

    [Fact]
    public async Task Replay_honours_max_and_a_dry_run_changes_nothing()
    {
        var queue = new RecordingQueue(Letters());
        var dry = await new DeadLetterService(queue, queue).ReplayAsync(3, dryRun: true);
        Assert.True(dry.DryRun);
        Assert.Equal([11L, 12L, 13L], dry.Replayed.Select(d => d.SequenceNumber));
        Assert.Empty(queue.Sent);
        Assert.DoesNotContain(queue.Log, l => !l.StartsWith("peek", StringComparison.Ordinal));

        var two = await new DeadLetterService(queue, queue).ReplayAsync(2, dryRun: false);
        Assert.Equal([11L, 12L], two.Replayed.Select(d => d.SequenceNumber));
        Assert.Equal(2, queue.Sent.Count);
    }

    [Fact]
    public void Queue_counts_print_one_aligned_line_per_queue()
    {
        var output = new StringWriter();
        QueuesCommand.Write(output, [new QueueCounts("score-requests", 12, 0, 3), new QueueCounts("validation-chunks", 0, 2, 0)]);
        var lines = output.ToString().Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => l.TrimEnd('\r')).ToArray();
        Assert.Equal("queue                    active  scheduled  dead-lettered", lines[0]);
        Assert.Equal("score-requests               12          0              3", lines[1]);
        Assert.Equal("validation-chunks             0          2              0", lines[2]);
        Assert.Equal(QueueNames.All, ["score-requests", "validation-chunks"]);
    }

    [Theory]
    [InlineData("deadletters", "list", "no-such-queue", "--namespace", "sb-x")]
    [InlineData("deadletters", "replay", "score-requests", "--namespace", "sb-x", "--max", "0")]
    [InlineData("deadletters", "list", "score-requests", "--namespace", "bad/name")]
    [InlineData("queues", "--namespace", "sb x")]
    public async Task Bad_arguments_are_one_line_and_exit_2(params string[] args)
    {
        var result = await CliRunner.RunAsync(args);
        Assert.True(result.ExitCode == 2, result.ToString());
        Assert.Single(result.ErrorLines);
    }

    [Fact]
    public async Task No_namespace_is_a_usage_error()
    {
        Assert.Null(Environment.GetEnvironmentVariable(ServiceBusNamespaceOption.EnvironmentVariable));
        var result = await CliRunner.RunAsync("queues");
        Assert.True(result.ExitCode == 2, result.ToString());
        Assert.Contains("no Service Bus namespace: pass --namespace or set $AZURE_SERVICEBUS_FULLY_QUALIFIED_NAMESPACE", result.Error);
    }
}
