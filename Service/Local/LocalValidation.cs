using ConvNeXt.Batch.Service.Contracts;
using ConvNeXt.Batch.Service.Services;
using ConvNeXt.Batch.Scoring.Evaluation;
using ConvNeXt.Batch.Scoring.Pipeline;

namespace ConvNeXt.Batch.Service.Local;

/// <summary>
/// Top-1 / top-5 of the engine's model on a labelled dataset, either in this process over a local
/// folder, or recorded: a whole validation run through <see cref="ValidationRunService"/>, landing in
/// the validation tables like a cloud run. Both report the same <see cref="ValidationOutcome"/>.
/// </summary>
public sealed class LocalValidation(ScoringEngine engine, LocalValidationOptions options)
{
    /// <summary>Scores every labelled image of <paramref name="data"/> here; <paramref name="scored"/> is told after each.</summary>
    public async Task<ValidationOutcome> EvaluateAsync(LabelledDataset data, Action? scored = null, CancellationToken cancellationToken = default)
    {
        var pipeline = new ScoringPipeline(await engine.GetClassifierAsync(cancellationToken), options.Pipeline);
        var counts = await pipeline.EvaluateAsync(data, _ => scored?.Invoke(), cancellationToken);
        return new ValidationOutcome(counts.Images + counts.Errors, counts.Errors, counts.Top1 * 100, counts.Top5 * 100, counts.MeanConfidence,
            counts.PerClass(), counts.MostConfused(options.Confused), null);
    }

    /// <summary>Creates a validation run for <paramref name="request"/>, scores every chunk here and reports the finished run.</summary>
    /// <exception cref="Validation.DatasetException">The dataset or its label list cannot be read (permanent: bad input).</exception>
    public async Task<ValidationOutcome> RecordAsync(ValidationRunService runs, ValidationRunRequest request, CancellationToken cancellationToken = default)
    {
        var report = await runs.RunLocallyAsync(request, cancellationToken);
        var run = report.Run;
        // The run's ImageCount is every labelled image (scored + failed), as a local count is.
        return new ValidationOutcome(run.ImageCount ?? 0, run.ErrorCount ?? 0, (run.Top1 ?? 0) * 100, (run.Top5 ?? 0) * 100, run.MeanConfidence ?? 0,
            report.PerClass.Select(c => new ClassAccuracy(c.Index, c.Count, c.Top1Correct, c.Top5Correct)).ToList(),
            report.MostConfused.Take(options.Confused).Select(p => new ConfusedPair(p.TrueIndex, p.PredictedIndex, p.Count)).ToList(),
            run.RunId);
    }
}
