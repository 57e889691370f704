namespace ConvNeXt.Batch.Service.Validation;

/// <summary>
/// Decides whether a running run has stalled: no chunk finished (nor the run created) for longer than
/// <see cref="ValidationOptions.StallTimeout"/>. Reads show such a run as <see cref="Storage.RunStatus.Stalled"/> and
/// write nothing; only the timer's sweep (<see cref="ValidationRunFinalizer.SweepAsync"/>) changes its row.
/// </summary>
public sealed class StalledRuns(ValidationOptions options, TimeProvider time)
{

    public TimeSpan Timeout => options.StallTimeout;

    public DateTimeOffset Now => time.GetUtcNow();

    /// <summary>False for a run younger than the timeout, which cannot have stalled: the sweep's test on the row alone.</summary>
    public bool MayHaveStalled(Storage.ValidationRunEntity run) =>
        run.Status == Storage.RunStatus.Running && Now - run.CreatedAt > options.StallTimeout;

    /// <summary>Why <paramref name="run"/> has stalled, or null when it has not (or is not running).</summary>
    public string? Reason(Storage.ValidationRunEntity run, ChunkRowSum chunks)
    {
        if (run.Status != Storage.RunStatus.Running)
            return null;
        var lastProgress = chunks.LastScoredAt is { } scored && scored > run.CreatedAt ? scored : run.CreatedAt;
        var idle = Now - lastProgress;
        if (idle <= options.StallTimeout)
            return null;
        var minutes = Math.Round(idle.TotalMinutes, 1).ToString(System.Globalization.CultureInfo.InvariantCulture);
        return chunks.Complete
            ? $"stalled: every chunk is in but the run was not finalized for {minutes} min (limit {options.StallTimeout})"
            : $"stalled: no chunk finished for {minutes} min (limit {options.StallTimeout}); {chunks.Done} of {run.ChunkCount} chunks done";
    }
}
