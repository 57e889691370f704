using System.Diagnostics;
using System.Globalization;
using ConvNeXt.Batch.Service.Services;
using ConvNeXt.Batch.Service.Storage;

namespace ConvNeXt.Batch.Cli.Serving;

/// <summary>One pass of the listing watch: what it scored, for the log line and the exit code of <c>watch --once</c>.</summary>
internal sealed record WatchPass(long Scored, long Failed, long Skipped, TimeSpan Elapsed)
{
    public string Describe() => string.Create(CultureInfo.InvariantCulture,
        $"{DateTime.Now:HH:mm:ss} scored {Scored}, failed {Failed}, skipped {Skipped} (already scored) in {Elapsed.TotalSeconds:F1} s");
}

/// <summary>
/// The local stand-in for Event Grid → Service Bus → ScoreImages: polls a container's listing and hands
/// it to <see cref="BlobScoringService"/>, which skips blobs already scored at the same ETag (and model).
/// Used by <c>watch</c> and <c>serve --watch</c>.
/// </summary>
internal sealed class ContainerWatcher(BlobScoringService scoring, string container, string? prefix)
{
    public async Task<WatchPass> PassAsync(CancellationToken cancellationToken)
    {
        var started = Stopwatch.StartNew();
        var result = await scoring.ScoreContainerAsync(container, new ContainerScoringOptions { Prefix = prefix }, cancellationToken);
        // Container passes keep counts only (memory stays flat however large the container).
        return new WatchPass(result.Scored, result.Failed, result.Skipped, started.Elapsed);
    }

    /// <summary>Passes every <paramref name="interval"/> until cancelled; reports passes that scored something.</summary>
    public async Task RunAsync(TimeSpan interval, Action<WatchPass> report, CancellationToken cancellationToken)
    {
        while (true)
        {
            var pass = await PassAsync(cancellationToken);
            if (pass.Scored + pass.Failed > 0)
                report(pass);
            await Task.Delay(interval, cancellationToken);
        }
    }
}
