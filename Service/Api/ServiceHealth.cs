using Azure;
using ConvNeXt.Batch.Service.Models;
using ConvNeXt.Batch.Service.Services;
using ConvNeXt.Batch.Service.Storage;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace ConvNeXt.Batch.Service.Api;

/// <summary>
/// The health check behind <c>GET /api/health</c>: storage reachability and the loaded model, checked at
/// most once per <see cref="CacheDuration"/> however often it is asked (the endpoint is anonymous: a
/// caller must not be able to make it probe storage or retry a model download on every request). One
/// check runs at a time; callers in between share its answer. An Unhealthy answer is logged once per
/// check as <c>health Unhealthy: ...</c> (the <c>health-unhealthy</c> alert rule matches that text).
/// </summary>
public sealed class ServiceHealth(ScoringEngine engine, StorageAccount storage, TimeSpan? cacheDuration = null,
    ILogger? logger = null, TimeProvider? time = null)
{
    public static readonly TimeSpan DefaultCacheDuration = TimeSpan.FromSeconds(10);

    private readonly TimeProvider _time = time ?? TimeProvider.System;
    private readonly ILogger _logger = logger ?? NullLogger.Instance;
    private readonly SemaphoreSlim _gate = new(1, 1);
    private (HealthReport Report, int StatusCode, DateTimeOffset At)? _last;

    public TimeSpan CacheDuration { get; } = cacheDuration ?? DefaultCacheDuration;

    /// <summary>How many checks actually ran (the rest were answered from the cache).</summary>
    public int Checks { get; private set; }

    public async Task<(HealthReport Report, int StatusCode)> CheckAsync(CancellationToken cancellationToken = default)
    {
        if (Fresh() is { } cached)
            return cached;
        await _gate.WaitAsync(cancellationToken);
        try
        {
            if (Fresh() is { } fresh)
                return fresh;
            var (report, status) = await RunAsync(cancellationToken);
            Checks++;
            _last = (report, status, _time.GetUtcNow());
            if (report.Status == "Unhealthy")
                _logger.LogError("health Unhealthy: {Error}; storage blob {Blob}, table {Table}",
                    report.Error ?? "-", report.Storage.Blob, report.Storage.Table);
            return (report, status);
        }
        finally
        {
            _gate.Release();
        }
    }

    private (HealthReport, int)? Fresh() =>
        _last is { } last && _time.GetUtcNow() - last.At < CacheDuration ? (last.Report, last.StatusCode) : null;

    private async Task<(HealthReport, int)> RunAsync(CancellationToken cancellationToken)
    {
        var reachability = await StorageHealth.CheckAsync(storage, cancellationToken);
        var storageReport = new StorageStatus(reachability.Blob ?? "reachable", reachability.Table ?? "reachable");
        var storageHealthy = reachability.Blob is null && reachability.Table is null;
        try
        {
            var model = await engine.GetModelInfoAsync(cancellationToken);
            // An unpinned blob model (Model__AllowUnpinned) scores, but says so on every health check.
            var pinned = model.UnpinnedReason is null;
            var status = !storageHealthy ? "Unhealthy" : pinned ? "Healthy" : "Unpinned";
            return (new HealthReport(status, true, model.ModelId, model.Sha256, model.ExecutionProvider,
                model.ClassCount, null, pinned, model.UnpinnedReason, storageReport), storageHealthy ? 200 : 503);
        }
        catch (Exception e) when (e is ModelIntegrityException or Scoring.Inference.ModelLoadException
                                      or Scoring.Inference.ExecutionProviderException or RequestFailedException or IOException
                                  || StorageFailures.Classify(e) == StorageFailureKind.Transient)
        {
            // ExecutionProviderException: Scoring__Device=cuda on a replica where CUDA cannot load.
            return (new HealthReport("Unhealthy", false, null, null, null, null, e.Message, null, null, storageReport), 503);
        }
    }
}
