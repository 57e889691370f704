using System.Diagnostics.Metrics;

namespace ConvNeXt.Batch.Service.Observability;

/// <summary>
/// The pipeline's instruments (meter <see cref="MeterName"/>), exported by OpenTelemetry. Spans are
/// <see cref="PipelineTracing"/>'s.
/// </summary>
public sealed class ScoringMetrics : IDisposable
{
    public const string MeterName = "ConvNeXt.Batch.Service";

    private readonly Meter _meter;

    /// <param name="factory">The host's meter factory: one meter per process, registered once by <c>AddConvNeXtBatch</c>.</param>
    public ScoringMetrics(IMeterFactory factory)
    {
        ArgumentNullException.ThrowIfNull(factory);
        _meter = factory.Create(MeterName);
        ImagesScored = _meter.CreateCounter<long>("convnext.images.scored", "{image}", "Images scored (prediction rows written)");
        ImagesFailed = _meter.CreateCounter<long>("convnext.images.failed", "{image}", "Images that became error rows");
        InvocationErrors = _meter.CreateCounter<long>("convnext.invocation.errors", "{invocation}", "Invocations failed for redelivery");
        MessagesRejected = _meter.CreateCounter<long>("convnext.messages.rejected", "{message}", "Malformed or foreign messages completed without scoring");
        BatchSize = _meter.CreateHistogram<int>("convnext.batch.size", "{image}", "Images per invocation");
        BatchLatency = _meter.CreateHistogram<double>("convnext.batch.duration", "ms", "Time to score and store one invocation's images");
        QueueLag = _meter.CreateHistogram<double>("convnext.queue.lag", "ms", "Time from enqueue to processing");
    }

    public Counter<long> ImagesScored { get; }
    public Counter<long> ImagesFailed { get; }
    public Counter<long> InvocationErrors { get; }
    public Counter<long> MessagesRejected { get; }
    public Histogram<int> BatchSize { get; }
    public Histogram<double> BatchLatency { get; }
    public Histogram<double> QueueLag { get; }

    public void Dispose() => _meter.Dispose();
}
