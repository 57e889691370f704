using ConvNeXt.Batch.Service.Storage;
using ConvNeXt.Batch.Service.Validation;

namespace ConvNeXt.Batch.Cli.Serving;

/// <summary>
/// The local stand-in for the StartValidationRun timer's housekeeping: <see cref="ValidationRunFinalizer.SweepAsync"/> on a
/// timer, so that a run whose chunks were lost (a crash of serve, a failed finalization) ends Completed or Failed with its
/// reason, as in Azure. Reads only show such a run as stalled; this is what changes its row.
/// </summary>
internal sealed class StalledRunSweep(ValidationRunFinalizer finalizer, TimeSpan stallTimeout)
{
    /// <summary>
    /// Every minute, or every half <see cref="ValidationOptions.StallTimeout"/> when that is shorter (never under a second), so
    /// a run is marked within about a timeout and a half of its last progress.
    /// </summary>
    public TimeSpan Interval { get; } = TimeSpan.FromTicks(Math.Clamp(stallTimeout.Ticks / 2, TimeSpan.TicksPerSecond, TimeSpan.TicksPerMinute));

    /// <summary>Sweeps at once (runs a previous serve left running) and then every <see cref="Interval"/> until cancelled.</summary>
    public async Task RunAsync(Action<string> report, CancellationToken cancellationToken)
    {
        using var timer = new PeriodicTimer(Interval);
        do
        {
            try
            {
                foreach (var line in await finalizer.SweepAsync(cancellationToken))
                    report(line);
            }
            catch (Exception e) when (!cancellationToken.IsCancellationRequested)
            {
                // Housekeeping: the next tick sweeps again, as the timer function does; serve keeps serving.
                report($"stalled-run sweep failed ({(StorageFailures.IsTransient(e, cancellationToken) ? "transient" : "permanent")}): {e.Message}");
            }
        }
        while (await timer.WaitForNextTickAsync(cancellationToken));
    }
}
