using System.Diagnostics;
using System.Text.Json;
using ConvNeXt.Batch.Service.Contracts;
using ConvNeXt.Batch.Service.Observability;

namespace ConvNeXt.Batch.Functions.Handler;

/// <summary>
/// The trace context of the Service Bus messages behind an invocation. The sending SDK (the
/// Functions host's output binding included) stamps each message with a W3C <c>traceparent</c> in
/// the <c>Diagnostic-Id</c> application property; the host passes application properties in the
/// trigger metadata as <c>ApplicationProperties</c> / <c>UserProperties</c> (one message) or the
/// <c>...Array</c> forms (a batch).
/// </summary>
public static class InvocationTracing
{
    private static readonly string[] TraceProperties = ["Diagnostic-Id", "traceparent"];

    /// <summary>Starts the invocation span, parented on (or linked to) the messages' traces.</summary>
    public static Activity? Start(string functionName, string invocationId, InvocationRequest request, int messageCount) =>
        PipelineTracing.StartInvocation(functionName, invocationId, MessageTraceParents(request), messageCount);

    /// <summary>The traceparent of each message (null where a message has none).</summary>
    public static IReadOnlyList<string?> MessageTraceParents(InvocationRequest request)
    {
        var application = request.MetadataArray("ApplicationPropertiesArray");
        var user = request.MetadataArray("UserPropertiesArray");
        if (application.Count > 0 || user.Count > 0)
            return Enumerable.Range(0, Math.Max(application.Count, user.Count))
                .Select(i => (i < application.Count ? TraceParent(application[i]) : null) ?? (i < user.Count ? TraceParent(user[i]) : null))
                .ToList();
        string? single = null;
        if (request.TryMetadata("ApplicationProperties", out var a))
            single = TraceParent(a);
        if (single is null && request.TryMetadata("UserProperties", out var u))
            single = TraceParent(u);
        return single is null ? [] : [single];
    }

    private static string? TraceParent(JsonElement properties)
    {
        properties = JsonPayload.Unwrap(properties);
        if (properties.ValueKind != JsonValueKind.Object)
            return null;
        foreach (var property in properties.EnumerateObject())
            if (TraceProperties.Any(n => string.Equals(n, property.Name, StringComparison.OrdinalIgnoreCase)) &&
                property.Value.ValueKind == JsonValueKind.String)
                return property.Value.GetString();
        return null;
    }
}
