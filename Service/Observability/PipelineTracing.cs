using System.Diagnostics;

namespace ConvNeXt.Batch.Service.Observability;

/// <summary>
/// The pipeline's spans, on one <see cref="ActivitySource"/> (<see cref="SourceName"/>): an invocation
/// span per function call (a child of the Service Bus message's trace where the message carries one),
/// then <c>model.load</c>, <c>download</c> (per blob), <c>batch</c> (the images of one call through
/// the scoring pipeline), <c>decode</c> (per image), <c>infer</c> (per model batch) and <c>write</c>
/// (table upserts). Nothing is recorded unless a listener (the OpenTelemetry tracer) samples them.
/// </summary>
public static class PipelineTracing
{
    public const string SourceName = "ConvNeXt.Batch";

    public static readonly ActivitySource Source = new(SourceName);

    /// <summary>
    /// Starts the span of one function invocation. <paramref name="messageTraceParents"/> are the
    /// W3C <c>traceparent</c> values of the triggering messages (their <c>Diagnostic-Id</c>): one
    /// message (or one distinct context) becomes the parent, so the span joins the sender's trace;
    /// several distinct ones (a batch from many senders) become links of a new trace.
    /// </summary>
    public static Activity? StartInvocation(string functionName, string invocationId, IEnumerable<string?> messageTraceParents, int messageCount)
    {
        var contexts = messageTraceParents
            .Select(p => p is not null && ActivityContext.TryParse(p, null, out var c) ? c : (ActivityContext?)null)
            .OfType<ActivityContext>()
            .Distinct()
            .ToList();
        var parent = contexts.Count == 1 ? contexts[0] : default;
        var links = contexts.Count > 1 ? contexts.Select(c => new ActivityLink(c)).ToList() : null;
        var activity = Source.StartActivity(functionName, messageCount > 0 ? ActivityKind.Consumer : ActivityKind.Server, parent, links: links);
        activity?.SetTag("faas.invocation_id", invocationId);
        activity?.SetTag("faas.name", functionName);
        if (messageCount > 0)
            activity?.SetTag("messaging.batch.message_count", messageCount);
        return activity;
    }

    /// <summary>Starts a stage span (a child of the current span).</summary>
    public static Activity? StartStage(string name, ActivityKind kind = ActivityKind.Internal) => Source.StartActivity(name, kind);

    /// <summary>Marks the span failed with the exception's type and message.</summary>
    public static void Fail(Activity? activity, Exception exception)
    {
        if (activity is null)
            return;
        activity.SetStatus(ActivityStatusCode.Error, exception.Message);
        activity.AddException(exception);
    }
}
