namespace ConvNeXt.Batch.Service.Storage;

/// <summary>Whether the blob and table endpoints answer; null for an endpoint that does, else why not.</summary>
public sealed record StorageReachability(string? Blob, string? Table);

/// <summary>
/// One cheap call per endpoint, without retries and with a short timeout: a health probe must answer
/// quickly and say what is true now, not what a retry might make true later.
/// </summary>
public static class StorageHealth
{
    public static readonly TimeSpan Timeout = TimeSpan.FromSeconds(5);

    public static async Task<StorageReachability> CheckAsync(StorageAccount storage, CancellationToken cancellationToken = default)
    {
        var blob = ProbeAsync(async ct => await storage.Container(ContainerNames.Images).ExistsAsync(ct), cancellationToken);
        var table = ProbeAsync(async ct =>
        {
            // Any answer from the service (even "no such table") proves it is reachable.
            await foreach (var _ in storage.Tables.QueryAsync(maxPerPage: 1, cancellationToken: ct).AsPages().WithCancellation(ct))
                break;
        }, cancellationToken);
        return new StorageReachability(await blob, await table);
    }

    private static async Task<string?> ProbeAsync(Func<CancellationToken, Task> probe, CancellationToken cancellationToken)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(Timeout);
        try
        {
            await probe(timeout.Token);
            return null;
        }
        catch (Exception e) when (!cancellationToken.IsCancellationRequested)
        {
            // A permanent answer (403: no access) is as unhealthy as no answer; both are reported.
            return $"{StorageFailures.Classify(e).ToString().ToLowerInvariant()} failure: {(e is OperationCanceledException ? $"no answer within {Timeout.TotalSeconds:F0} s" : AzuriteApiVersion.Describe(e) ?? e.Message.Split('\n')[0])}";
        }
    }
}
