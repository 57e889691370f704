using ConvNeXt.Batch.Cli.Output;
using ConvNeXt.Batch.Service.Contracts;
using ConvNeXt.Batch.Scoring.Inference;
using ConvNeXt.Batch.Scoring.Pipeline;

namespace ConvNeXt.Batch.Cli.Commands;

internal static class PredictionFormatting
{
    public static PredictedClass ToPredicted(ClassScore score) =>
        new(score.Index, score.Wnid, score.Name, Math.Round(score.Probability, 6));

    public static ScoreRecord ToRecord(ScoredImage scored, string? source = null) =>
        new(source ?? scored.Id, scored.Top?.Select(ToPredicted).ToList(), scored.Error is null ? null : CommandTree.OneLine(scored.Error));
}
