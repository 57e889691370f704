using System.Diagnostics;
using ConvNeXt.Batch.Scoring.Pipeline;

namespace ConvNeXt.Batch.Scoring.Evaluation;

public static class PipelineEvaluation
{
    /// <summary>
    /// Scores every image of <paramref name="dataset"/> and tallies accuracy. <paramref name="onResult"/>
    /// sees each result (e.g. to keep the wrong predictions).
    /// </summary>
    public static async Task<AccuracyCounts> EvaluateAsync(this ScoringPipeline pipeline, LabelledDataset dataset,
        Action<ScoredImage>? onResult = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(pipeline);
        ArgumentNullException.ThrowIfNull(dataset);
        var counts = new AccuracyCounts();
        var started = Stopwatch.GetTimestamp();
        await foreach (var result in pipeline.RunAsync(dataset.ToInputs().ToAsyncEnumerable(), cancellationToken).ConfigureAwait(false))
        {
            counts.Add(result);
            onResult?.Invoke(result);
        }
        counts.AddElapsed(Stopwatch.GetElapsedTime(started));
        return counts;
    }
}
