using System.Text.Json;
using Azure.Messaging.ServiceBus;

namespace ConvNeXt.Batch.Service.Operations;

/// <summary>
/// Lists and replays the dead-lettered messages of one queue (<c>convnext-batch deadletters</c>).
/// Replay sends a copy back to the queue first and removes the dead-lettered original only once the
/// send succeeded: a failure between the two leaves a duplicate (scored twice at worst; the ETag skip
/// makes the second cheap), never a lost message.
/// </summary>
public sealed class DeadLetterService(IDeadLetterReceiver deadLetters, IQueueSender queue)
{
    /// <summary>Application property on a replayed copy: the sequence number it had in the dead-letter queue.</summary>
    public const string ReplayedFromProperty = "ReplayedFromDeadLetter";

    private const string DeadLetterReasonProperty = "DeadLetterReason";
    private const string DeadLetterDescriptionProperty = "DeadLetterErrorDescription";
    private const int ReceiveBatch = 50;

    /// <summary>Up to <paramref name="max"/> dead letters, oldest first, without locking or changing them.</summary>
    public async Task<IReadOnlyList<DeadLetter>> ListAsync(int max, CancellationToken cancellationToken = default)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(max);
        var list = new List<DeadLetter>();
        long next = 0;
        while (list.Count < max)
        {
            var page = await deadLetters.PeekAsync(Math.Min(ReceiveBatch, max - list.Count), next, cancellationToken);
            if (page.Count == 0)
                break;
            list.AddRange(page.Select(Describe));
            next = page[^1].SequenceNumber + 1;
        }
        return list;
    }

    /// <summary>
    /// Sends up to <paramref name="max"/> dead letters back to their queue, each sent before its dead-lettered copy is
    /// completed. The first failure stops the replay; the message it concerns and the rest of its batch are abandoned
    /// (they stay dead-lettered). A dry run only peeks: it lists what would be sent.
    /// </summary>
    public async Task<ReplayOutcome> ReplayAsync(int max, bool dryRun, CancellationToken cancellationToken = default)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(max);
        if (dryRun)
            return new ReplayOutcome(await ListAsync(max, cancellationToken), DryRun: true, Failure: null);

        var replayed = new List<DeadLetter>();
        while (replayed.Count < max)
        {
            var batch = await deadLetters.ReceiveAsync(Math.Min(ReceiveBatch, max - replayed.Count), cancellationToken);
            if (batch.Count == 0)
                break;
            for (var i = 0; i < batch.Count; i++)
            {
                var message = batch[i];
                var described = Describe(message);
                try
                {
                    await queue.SendAsync(Copy(message), cancellationToken);
                }
                catch (Exception e) when (e is not OperationCanceledException)
                {
                    await AbandonAsync(batch.Skip(i));
                    return new ReplayOutcome(replayed, false,
                        $"sending message {described.SequenceNumber} ({described.Refers}) failed: {FirstLine(e.Message)}; it stays dead-lettered");
                }
                try
                {
                    await deadLetters.CompleteAsync(message, cancellationToken);
                }
                catch (Exception e) when (e is not OperationCanceledException)
                {
                    await AbandonAsync(batch.Skip(i + 1));
                    replayed.Add(described);
                    return new ReplayOutcome(replayed, false,
                        $"message {described.SequenceNumber} ({described.Refers}) was sent again but its dead-lettered copy could not be removed ({FirstLine(e.Message)}): it will be replayed twice if replayed again");
                }
                replayed.Add(described);
            }
        }
        return new ReplayOutcome(replayed, false, null);
    }

    /// <summary>The message to send again: body, content type, subject, ids and application properties of the original, minus the dead-letter reason.</summary>
    public static ServiceBusMessage Copy(ServiceBusReceivedMessage message)
    {
        var copy = new ServiceBusMessage(message);
        copy.ApplicationProperties.Remove(DeadLetterReasonProperty);
        copy.ApplicationProperties.Remove(DeadLetterDescriptionProperty);
        copy.ApplicationProperties[ReplayedFromProperty] = message.SequenceNumber;
        return copy;
    }

    public static DeadLetter Describe(ServiceBusReceivedMessage message) =>
        new(message.SequenceNumber, message.MessageId, message.DeadLetterReason, message.DeadLetterErrorDescription,
            message.DeliveryCount, message.EnqueuedTime, Refers(message.Body));

    /// <summary>What a message body names: the blob of a BlobCreated event, the run and chunk of a validation chunk, a job.</summary>
    public static string Refers(BinaryData body)
    {
        try
        {
            using var document = JsonDocument.Parse(body.ToMemory());
            var root = document.RootElement;
            // Event Grid may deliver one event or an array of them.
            if (root.ValueKind == JsonValueKind.Array && root.GetArrayLength() > 0)
                root = root[0];
            if (root.ValueKind != JsonValueKind.Object)
                return Unreadable(body);
            if (Text(root, "runId") is { } run)
                return root.TryGetProperty("chunkIndex", out var index) && index.ValueKind == JsonValueKind.Number
                    ? $"run {run} chunk {index.GetInt32()}/{(root.TryGetProperty("chunkCount", out var count) && count.ValueKind == JsonValueKind.Number ? count.GetInt32().ToString(System.Globalization.CultureInfo.InvariantCulture) : "?")}"
                    : $"run {run}";
            if (Text(root, "jobId") is { } job)
                return $"job {job}";
            if (Text(root, "subject") is { } subject && BlobOf(subject) is { } blob)
                return $"blob {blob}";
            return Unreadable(body);
        }
        catch (JsonException)
        {
            return Unreadable(body);
        }
    }

    private static string? BlobOf(string subject)
    {
        // /blobServices/default/containers/<container>/blobs/<name>
        const string containers = "/containers/", blobs = "/blobs/";
        var c = subject.IndexOf(containers, StringComparison.Ordinal);
        var b = subject.IndexOf(blobs, StringComparison.Ordinal);
        return c < 0 || b <= c ? null : $"{subject[(c + containers.Length)..b]}/{subject[(b + blobs.Length)..]}";
    }

    private static string? Text(JsonElement element, string name) =>
        element.TryGetProperty(name, out var value) && value.ValueKind == JsonValueKind.String ? value.GetString() : null;

    private static string Unreadable(BinaryData body)
    {
        var text = body.ToString();
        return "unreadable: " + (text.Length > 60 ? text[..60] + "..." : text);
    }

    private async Task AbandonAsync(IEnumerable<ServiceBusReceivedMessage> messages)
    {
        foreach (var message in messages)
        {
            try
            {
                await deadLetters.AbandonAsync(message, CancellationToken.None);
            }
            catch (ServiceBusException)
            {
                // The lock expires on its own; the message stays dead-lettered either way.
            }
        }
    }

    private static string FirstLine(string text) => text.Split('\n')[0].Trim();
}
