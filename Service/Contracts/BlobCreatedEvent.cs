using System.Text.Json;
using ConvNeXt.Batch.Service.Storage;

namespace ConvNeXt.Batch.Service.Contracts;

/// <summary>A storage <c>Microsoft.Storage.BlobCreated</c> event reduced to what scoring needs.</summary>
public sealed record BlobCreatedEvent(
    string EventId,
    string Container,
    string BlobName,
    Uri? Url,
    string? BlobETag,
    long? ContentLength,
    DateTimeOffset? EventTime);

/// <summary>A message or event that is not something to score, and why (logged, then completed).</summary>
public sealed record RejectedMessage(string? MessageId, string Reason);

public sealed record ParsedBlobEvents(IReadOnlyList<BlobCreatedEvent> Events, IReadOnlyList<RejectedMessage> Rejected);

/// <summary>
/// Reads storage events in the Event Grid schema or the CloudEvents 1.0 schema, one event or an array
/// of events per message. Nothing here throws: what cannot be used becomes a <see cref="RejectedMessage"/>.
/// </summary>
public static class BlobEventParser
{
    public const string BlobCreatedType = "Microsoft.Storage.BlobCreated";

    /// <param name="message">One message body (JSON text).</param>
    /// <param name="allowedContainers">Containers whose blobs are scored; events for others are rejected.</param>
    public static ParsedBlobEvents Parse(string message, string? messageId, IReadOnlySet<string> allowedContainers)
    {
        try
        {
            using var document = JsonDocument.Parse(message);
            return Parse(document.RootElement, messageId, allowedContainers);
        }
        catch (JsonException e)
        {
            return new ParsedBlobEvents([], [new RejectedMessage(messageId, $"not JSON: {e.Message}")]);
        }
    }

    public static ParsedBlobEvents Parse(JsonElement message, string? messageId, IReadOnlySet<string> allowedContainers)
    {
        var events = new List<BlobCreatedEvent>();
        var rejected = new List<RejectedMessage>();
        // The host may hand over a body as a JSON string holding the JSON text (sometimes twice).
        message = JsonPayload.Unwrap(message);
        if (message.ValueKind == JsonValueKind.Array)
        {
            foreach (var item in message.EnumerateArray())
                ParseOne(JsonPayload.Unwrap(item), messageId, allowedContainers, events, rejected);
        }
        else
        {
            ParseOne(message, messageId, allowedContainers, events, rejected);
        }
        return new ParsedBlobEvents(events, rejected);
    }

    private static void ParseOne(JsonElement e, string? messageId, IReadOnlySet<string> allowedContainers,
        List<BlobCreatedEvent> events, List<RejectedMessage> rejected)
    {
        if (e.ValueKind != JsonValueKind.Object)
        {
            rejected.Add(new RejectedMessage(messageId, $"expected an event object, found {e.ValueKind}"));
            return;
        }
        // CloudEvents carry "specversion" and "type"; Event Grid events carry "eventType" and "dataVersion".
        var isCloudEvent = TryString(e, "specversion") is not null;
        var type = isCloudEvent ? TryString(e, "type") : TryString(e, "eventType");
        var id = TryString(e, "id") ?? messageId ?? "";
        if (type != BlobCreatedType)
        {
            rejected.Add(new RejectedMessage(messageId, $"event {id} has type '{type ?? "(none)"}', not {BlobCreatedType}"));
            return;
        }
        e.TryGetProperty("data", out var data);
        if (data.ValueKind == JsonValueKind.String)
            data = JsonPayload.Unwrap(data);
        var url = data.ValueKind == JsonValueKind.Object ? TryString(data, "url") : null;
        var subject = TryString(e, "subject");
        if (!TryLocate(subject, url, out var container, out var blob))
        {
            rejected.Add(new RejectedMessage(messageId, $"event {id} names no blob (subject '{subject}', url '{url}')"));
            return;
        }
        // Names are checked before the allow-list: storage resolves '.' and '..' in a URL, so a name with
        // them could leave the container the allow-list approved.
        if (BlobNames.ContainerProblem(container) is { } containerProblem)
        {
            rejected.Add(new RejectedMessage(messageId, $"event {id}: {containerProblem}"));
            return;
        }
        if (BlobNames.Problem(blob) is { } blobProblem)
        {
            rejected.Add(new RejectedMessage(messageId, $"event {id}: {blobProblem}"));
            return;
        }
        if (!allowedContainers.Contains(container))
        {
            rejected.Add(new RejectedMessage(messageId, $"event {id} is for container '{container}', which is not scored"));
            return;
        }
        Uri? uri = null;
        if (url is not null && !Uri.TryCreate(url, UriKind.Absolute, out uri))
        {
            rejected.Add(new RejectedMessage(messageId, $"event {id}: data.url is not an absolute URL"));
            return;
        }
        string? etag = null;
        long? length = null;
        if (data.ValueKind == JsonValueKind.Object)
        {
            etag = TryString(data, "eTag") ?? TryString(data, "etag");
            if (data.TryGetProperty("contentLength", out var len) && len.ValueKind != JsonValueKind.Null)
            {
                if (len.ValueKind != JsonValueKind.Number || !len.TryGetInt64(out var bytes) || bytes < 0)
                {
                    rejected.Add(new RejectedMessage(messageId, $"event {id}: data.contentLength is not a byte count"));
                    return;
                }
                length = bytes;
            }
        }
        DateTimeOffset? time = null;
        var timeText = TryString(e, isCloudEvent ? "time" : "eventTime");
        if (timeText is not null && DateTimeOffset.TryParse(timeText, System.Globalization.CultureInfo.InvariantCulture,
                System.Globalization.DateTimeStyles.AssumeUniversal, out var parsed))
            time = parsed;
        events.Add(new BlobCreatedEvent(id, container, blob, uri, etag, length, time));
    }

    /// <summary>
    /// The subject (<c>/blobServices/default/containers/{c}/blobs/{name}</c>) holds the blob name unencoded;
    /// the URL is the fallback (percent-encoded path).
    /// </summary>
    internal static bool TryLocate(string? subject, string? url, out string container, out string blob)
    {
        const string marker = "/containers/";
        const string blobsMarker = "/blobs/";
        container = blob = "";
        if (subject is not null)
        {
            var c = subject.IndexOf(marker, StringComparison.Ordinal);
            var b = c < 0 ? -1 : subject.IndexOf(blobsMarker, c + marker.Length, StringComparison.Ordinal);
            if (c >= 0 && b > c)
            {
                container = subject[(c + marker.Length)..b];
                blob = subject[(b + blobsMarker.Length)..];
                return container.Length > 0 && blob.Length > 0;
            }
        }
        if (url is not null && Uri.TryCreate(url, UriKind.Absolute, out var uri))
        {
            var path = uri.AbsolutePath.TrimStart('/');
            // Azurite and other emulators put the account name first in the path.
            if (uri.Host is "127.0.0.1" or "localhost" && path.StartsWith("devstoreaccount1/", StringComparison.Ordinal))
                path = path["devstoreaccount1/".Length..];
            var slash = path.IndexOf('/');
            if (slash > 0 && slash < path.Length - 1)
            {
                container = Uri.UnescapeDataString(path[..slash]);
                blob = Uri.UnescapeDataString(path[(slash + 1)..]);
                return true;
            }
        }
        return false;
    }

    private static string? TryString(JsonElement e, string name) =>
        e.ValueKind == JsonValueKind.Object && e.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.String ? v.GetString() : null;
}
