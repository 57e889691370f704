using System.Collections.Concurrent;
using ConvNeXt.Batch.Service.Jobs;

namespace ConvNeXt.Batch.Cli.Serving;

/// <summary>
/// <c>serve</c>'s stand-in for the job queues: each started job runs in the background through the same planner steps
/// and chunks (<see cref="ScoringJobService.RunAsync"/>); a cancel through the API stops it at its next chunk.
/// </summary>
internal sealed class JobRunner(ScoringJobService jobs, Action<string> log, CancellationToken stopping) : Api.IScoringJobSink
{
    private readonly ConcurrentBag<Task> _running = [];

    public void Start(JobPlanMessage first) => _running.Add(Task.Run(async () =>
    {
        try
        {
            var end = await jobs.RunAsync(first, null, stopping);
            log($"scoring job {end.JobId} {end.Status}: done {end.Done}, skipped {end.Skipped}, failed {end.Failed} of {end.Planned}");
        }
        catch (OperationCanceledException) when (stopping.IsCancellationRequested)
        {
            // serve is stopping; the job stays Running in its row.
        }
        catch (Exception e)
        {
            log($"scoring job {first.JobId} stopped: {e.Message}");
        }
    }, CancellationToken.None));

    /// <summary>Waits for the running jobs to stop (after <c>stopping</c> is cancelled).</summary>
    public Task StopAsync() => Task.WhenAll(_running);
}
