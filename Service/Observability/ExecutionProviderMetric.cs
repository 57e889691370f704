using System.Diagnostics.Metrics;

namespace ConvNeXt.Batch.Service.Observability;

/// <summary>
/// <c>convnext.model.execution_provider</c>: 1 while a model is loaded, tagged with where it runs
/// (<c>cpu</c>, <c>cuda:0</c>) and the model. A GPU deployment whose series says <c>cpu</c> (only
/// possible with <c>Scoring__Device=auto</c>) is scoring at a fraction of the speed it pays for.
/// Same meter name as <see cref="ScoringMetrics"/>, so the same exporter picks it up.
/// </summary>
public static class ExecutionProviderMetric
{
    public const string Name = "convnext.model.execution_provider";

    private static readonly Meter Meter = new(ScoringMetrics.MeterName);
    private static volatile Loaded? _loaded;

    private sealed record Loaded(string Provider, string ModelId, string Sha256);

    static ExecutionProviderMetric() =>
        Meter.CreateObservableGauge(Name, Observe, "{model}", "1 per loaded model, tagged with its execution provider");

    /// <summary>Records the model the process now scores with.</summary>
    public static void Record(string executionProvider, string modelId, string sha256) =>
        _loaded = new Loaded(executionProvider, modelId, sha256);

    private static IEnumerable<Measurement<int>> Observe()
    {
        if (_loaded is not { } loaded)
            yield break;
        yield return new Measurement<int>(1,
            new KeyValuePair<string, object?>("execution_provider", loaded.Provider),
            new KeyValuePair<string, object?>("model_id", loaded.ModelId),
            new KeyValuePair<string, object?>("model_sha256", loaded.Sha256));
    }
}
