using ConvNeXt.Batch.Service.Queries;
using ConvNeXt.Batch.Scoring.Evaluation;
using ConvNeXt.Batch.Scoring.Labels;

namespace ConvNeXt.Batch.Service.Validation;

/// <summary>
/// A run's totals: the exact sum of its chunk rows' <see cref="AccuracyCounts"/> (integers only, so any
/// order of chunks gives the same numbers, the calibration bins and ECE included). Accuracies count scored images; failed ones are <see cref="Errors"/>.
/// </summary>
public sealed record RunTotals(long Images, long Errors, long Top1Correct, long Top5Correct, double Top1, double Top5, double MeanConfidence,
    IReadOnlyList<Queries.ClassAccuracy> PerClass, IReadOnlyList<Queries.ConfusedPair> MostConfused,
    double? Ece, IReadOnlyList<CalibrationBin> Calibration)
{
    /// <summary>The totals of one summed counts document (a run's frozen totals).</summary>
    public static RunTotals FromJson(string summedCountsJson, ClassLabels? labels = null) =>
        From(AccuracyCounts.FromJson(summedCountsJson), labels);

    /// <summary>Shapes a run's summed counts: the one place, whether they were summed now or frozen at finalization.</summary>
    public static RunTotals From(AccuracyCounts total, ClassLabels? labels = null)
    {
        string? Wnid(int i) => labels is not null && i >= 0 && i < labels.Count ? labels[i].Wnid : null;
        string? Name(int i) => labels is not null && i >= 0 && i < labels.Count ? labels[i].Name : null;
        return new RunTotals(total.Images, total.Errors, total.Top1Correct, total.Top5Correct, total.Top1, total.Top5, total.MeanConfidence,
            total.PerClass().OrderBy(c => c.Index)
                .Select(c => new Queries.ClassAccuracy(c.Index, Wnid(c.Index), Name(c.Index), c.Images, c.Top1Correct, c.Top5Correct)).ToList(),
            total.MostConfused(20).Select(p => new Queries.ConfusedPair(p.Actual, Wnid(p.Actual), p.Predicted, Wnid(p.Predicted), p.Count)).ToList(),
            total.ExpectedCalibrationError, total.CalibrationBins());
    }
}
