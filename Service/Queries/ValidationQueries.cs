using Azure.Data.Tables;
using ConvNeXt.Batch.Service.Contracts;
using ConvNeXt.Batch.Service.Storage;
using ConvNeXt.Batch.Service.Validation;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace ConvNeXt.Batch.Service.Queries;

/// <summary>A validation run row as the API shows it. Accuracies are fractions (0..1); reference accuracy as published.</summary>
public sealed record ValidationRunSummary(
    string RunId,
    string Status,
    string? Trigger,
    string? ModelId,
    string? ModelSha256,
    string DatasetContainer,
    string? DatasetPrefix,
    string? LabelSource,
    int ExpectedImageCount,
    int ChunkCount,
    int ChunkSize,
    DateTimeOffset CreatedAt,
    DateTimeOffset? FinishedAt,
    int? ImageCount,
    int? ScoredCount,
    int? ErrorCount,
    double? Top1,
    double? Top5,
    double? MeanConfidence,
    double? ReferenceTop1,
    double? ReferenceTop5,
    string? ReferenceSource,
    string? FinalizedBy,
    double? Ece = null,
    string? FailureReason = null,
    string? LabelsSha256 = null)
{
    /// <summary>The repository model (<c>NAME@VERSION</c>) the run validated; null for the deployed model.</summary>
    public string? Model { get; init; }

    /// <summary>False when the model has random weights (shown as UNTRAINED); null when unknown.</summary>
    public bool? Trained { get; init; }

    /// <summary>The execution provider of the worker that planned the run (cpu, cuda, …).</summary>
    public string? ExecutionProvider { get; init; }

    internal static ValidationRunSummary From(ValidationRunEntity e) => new(
        e.RowKey, e.Status, e.Trigger, e.ModelId, e.ModelSha256, e.DatasetContainer, e.DatasetPrefix, e.LabelSource,
        e.ExpectedImageCount, e.ChunkCount, e.ChunkSize, e.CreatedAt, e.FinishedAt, e.ImageCount, e.ScoredCount, e.ErrorCount,
        e.Top1, e.Top5, e.MeanConfidence, e.ReferenceTop1, e.ReferenceTop5, e.ReferenceSource, e.FinalizedBy, e.Ece, e.FailureReason, e.LabelsSha256)
    {
        Model = e.ModelName is { } name && e.ModelVersion is { } version ? $"{name}@{version}" : null,
        Trained = e.ModelTrained,
        ExecutionProvider = e.ExecutionProvider,
    };
}

public sealed record ClassAccuracy(int Index, string? Wnid, string? Name, long Count, long Top1Correct, long Top5Correct)
{
    public double Top1 => Count == 0 ? 0 : (double)Top1Correct / Count;
    public double Top5 => Count == 0 ? 0 : (double)Top5Correct / Count;
}

/// <summary>
/// How the measured accuracy compares with the model's published one (percentage points; measured minus
/// reference). Null when the model carries no reference accuracy or the run is not complete.
/// </summary>
public sealed record ReferenceComparison(double ReferenceTop1, double ReferenceTop5, string? Source, double Top1DeltaPoints, double Top5DeltaPoints);

/// <summary>
/// <c>GET /api/validation-runs/{id}</c>: the run, chunk progress, per-class accuracy and the reference comparison.
/// <see cref="ChunksFailed"/> counts chunks rejected for good (e.g. scored by another model) and not done since.
/// </summary>
public sealed record ValidationRunReport(
    ValidationRunSummary Run,
    int ChunksDone,
    IReadOnlyList<ClassAccuracy> PerClass,
    ReferenceComparison? Comparison,
    IReadOnlyList<ConfusedPair> MostConfused,
    IReadOnlyList<Scoring.Evaluation.CalibrationBin>? Calibration = null,
    int ChunksExpected = 0,
    int ChunksFailed = 0);

public sealed record ConfusedPair(int TrueIndex, string? TrueWnid, int PredictedIndex, string? PredictedWnid, long Count);

public sealed record ValidationPredictionRecord(
    string RunId, string Blob, int ChunkIndex, int LabelIndex, string? LabelWnid, string? LabelName, string Status,
    string? ErrorReason, string? ErrorMessage, IReadOnlyList<PredictedClass> Top, bool Correct1, bool Correct5)
{
    internal static ValidationPredictionRecord From(ValidationPredictionEntity e) => new(
        e.PartitionKey, e.BlobName, e.ChunkIndex, e.LabelIndex, e.LabelWnid, e.LabelName, e.Status, e.ErrorReason, e.ErrorMessage,
        PredictedClass.FromJson(e.TopJson), e.Correct1, e.Correct5);
}

/// <summary>
/// Reads <c>ValidationRuns</c> (through the <see cref="ValidationRunStore"/>), <c>ValidationChunks</c> and
/// <c>ValidationPredictions</c>, and never writes: a run that stopped making progress is shown as
/// <see cref="RunStatus.Stalled"/> with the reason (<see cref="StalledRuns"/>, with the configured timeout), and only the
/// timer's sweep changes its row. Nothing here creates a table, so a read-only identity gets its reports. A completed run
/// is read from its row and its frozen totals (<see cref="FrozenTotals"/>), not its chunk rows.
/// </summary>
public sealed class ValidationQueries(ValidationRunStore store, StorageAccount storage, StalledRuns stalled, ILogger<ValidationQueries> logger)
{
    private readonly ILogger _logger = logger;

    public Task<ResultPage<ValidationRunSummary>> ListRunsAsync(int? top = null, string? continuationToken = null, CancellationToken cancellationToken = default) =>
        store.ListAsync(KeysetPaging.Top(top), continuationToken, cancellationToken);

    public async Task<ValidationRunSummary?> GetRunSummaryAsync(string runId, CancellationToken cancellationToken = default) =>
        await store.ReadAsync(runId, cancellationToken) is { } row ? ValidationRunSummary.From(row) : null;

    /// <param name="labels">Names the classes in the per-class table when given (the CLI passes the model's labels).</param>
    public async Task<ValidationRunReport?> GetRunAsync(string runId, Scoring.Labels.ClassLabels? labels = null, CancellationToken cancellationToken = default)
    {
        if (await store.ReadAsync(runId, cancellationToken) is not { } row)
            return null;
        var (run, totals, chunksDone, failedChunks) = await FrozenAsync(row, labels, cancellationToken)
                                                      ?? await SummedAsync(row, labels, cancellationToken);
        ReferenceComparison? comparison = null;
        if (run.Status == RunStatus.Completed && run.ReferenceTop1 is { } r1 && run.ReferenceTop5 is { } r5 && run.Top1 is { } t1 && run.Top5 is { } t5)
        {
            // Published accuracies are percentages (81.91) or fractions (0.8191): compare in points either way.
            var scale1 = r1 > 1 ? 1 : 100;
            var scale5 = r5 > 1 ? 1 : 100;
            comparison = new ReferenceComparison(r1 * scale1, r5 * scale5, run.ReferenceSource,
                Math.Round(t1 * 100 - r1 * scale1, 2), Math.Round(t5 * 100 - r5 * scale5, 2));
        }
        return new ValidationRunReport(run, chunksDone, totals.PerClass, comparison, totals.MostConfused, totals.Calibration, run.ChunkCount, failedChunks);
    }

    /// <summary>
    /// A completed run read from its frozen totals: one blob, whatever the number of chunks (every chunk is done and
    /// none failed, or it would not have completed). Null when it has none to believe: then the chunk rows are summed.
    /// </summary>
    private async Task<(ValidationRunSummary Run, RunTotals Totals, int ChunksDone, int ChunksFailed)?> FrozenAsync(ValidationRunEntity run,
        Scoring.Labels.ClassLabels? labels, CancellationToken cancellationToken)
    {
        var (json, problem) = await FrozenTotals.ReadAsync(storage, run, cancellationToken);
        if (problem is not null)
            _logger.LogWarning("validation run {RunId}: frozen totals {TotalsBlob} not used ({Problem}); summing its chunk rows", run.RowKey, run.TotalsBlob, problem);
        return json is null ? null : (ValidationRunSummary.From(run), RunTotals.FromJson(json, labels), run.ChunkCount, 0);
    }

    /// <summary>A run read from the sum of its chunk rows (running, failed, or completed before totals were frozen), shown stalled when it is.</summary>
    private async Task<(ValidationRunSummary Run, RunTotals Totals, int ChunksDone, int ChunksFailed)> SummedAsync(ValidationRunEntity row,
        Scoring.Labels.ClassLabels? labels, CancellationToken cancellationToken)
    {
        var chunks = await ReadChunksAsync(row, cancellationToken);
        var run = ValidationRunSummary.From(row);
        if (stalled.Reason(row, chunks) is { } reason)
            run = run with { Status = RunStatus.Stalled, FailureReason = reason };
        var failedChunks = FailedChunkIndexes(row.FailedChunks).Count(i => !chunks.IsDone(i));
        return (run, RunTotals.From(chunks.Counts, labels), chunks.Done, failedChunks);
    }

    /// <summary>The run's chunk rows summed; none when the table does not exist yet (nothing is created on a read).</summary>
    private async Task<ChunkRowSum> ReadChunksAsync(ValidationRunEntity row, CancellationToken cancellationToken)
    {
        try
        {
            return await ChunkRowSum.ReadAsync(storage, row.RowKey, row.ChunkCount, cancellationToken: cancellationToken);
        }
        catch (Azure.RequestFailedException e) when (StorageAccount.IsTableNotFound(e))
        {
            return ChunkRowSum.None(row.ChunkCount);
        }
    }

    internal static IReadOnlySet<int> FailedChunkIndexes(string? list) =>
        (list ?? "").Split(',', StringSplitOptions.RemoveEmptyEntries)
            .Select(t => int.TryParse(t, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var i) ? i : -1)
            .Where(i => i >= 0).ToHashSet();

    /// <summary>Misclassified (top-1 wrong) or failed images of a run, paged.</summary>
    public Task<ResultPage<ValidationPredictionRecord>> ListWrongAsync(string runId, int? top = null, string? continuationToken = null,
        CancellationToken cancellationToken = default) =>
        QueryPredictionsAsync(TableClient.CreateQueryFilter($"PartitionKey eq {runId} and Correct1 eq {false}"), top, continuationToken, cancellationToken);

    /// <summary>Every per-image row of a run, paged (for exports and comparisons).</summary>
    public Task<ResultPage<ValidationPredictionRecord>> ListPredictionsAsync(string runId, int? top = null, string? continuationToken = null,
        CancellationToken cancellationToken = default) =>
        QueryPredictionsAsync(TableClient.CreateQueryFilter($"PartitionKey eq {runId}"), top, continuationToken, cancellationToken);

    private async Task<ResultPage<ValidationPredictionRecord>> QueryPredictionsAsync(string filter, int? top, string? continuationToken,
        CancellationToken cancellationToken)
    {
        try
        {
            return await KeysetPaging.QueryAsync<ValidationPredictionEntity, ValidationPredictionRecord>(
                storage.Table(TableNames.ValidationPredictions), storage.Resilience,
                filter, KeysetPaging.Top(top), continuationToken, ValidationPredictionRecord.From, cancellationToken);
        }
        catch (Azure.RequestFailedException e) when (StorageAccount.IsTableNotFound(e))
        {
            return new ResultPage<ValidationPredictionRecord>([], null);
        }
    }
}
