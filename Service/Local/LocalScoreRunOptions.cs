using ConvNeXt.Batch.Service.Services;
using ConvNeXt.Batch.Scoring.Pipeline;

namespace ConvNeXt.Batch.Service.Local;

/// <summary>How a <see cref="LocalScoreRun"/> runs and where its rows go.</summary>
public sealed record LocalScoreRunOptions
{
    /// <summary>The pipeline for folders, and for containers scored without a table.</summary>
    public required ScoringPipelineOptions Pipeline { get; init; }

    /// <summary>Blob reads (size limit, download concurrency) and the container scoring service.</summary>
    public ScoringOptions Scoring { get; init; } = new();

    /// <summary>The repository model the engine scores with (its rows go to that model's partition); <c>null</c>: a model file.</summary>
    public Models.ModelReference? Model { get; init; }

    /// <summary>Upsert one row per image into this table; <c>null</c>: no table.</summary>
    public string? Table { get; init; }

    /// <summary>
    /// Each image's result, one call at a time: in input order, or for a container scored into a table,
    /// as its row lands.
    /// </summary>
    public Func<ScoredRow, CancellationToken, ValueTask>? RowReady { get; init; }

    /// <summary>Called after each image with the counts so far.</summary>
    public Action<ScoreProgress>? Progress { get; init; }
}
