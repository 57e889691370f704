using ConvNeXt.Batch.Cli.Output;
using ConvNeXt.Batch.Service.Contracts;
using ConvNeXt.Batch.Scoring.Inference;
using ConvNeXt.Batch.Scoring.Pipeline;

namespace ConvNeXt.Batch.Cli.Commands;

internal static class PredictionFormatting
{
    public static ScoreRecord ToRecord(ScoredImage scored, string? source = null) =>
        new(source ?? scored.Id, PredictedClass.From(scored.Top), scored.Error is null ? null : CommandTree.OneLine(scored.Error));
}
