using Azure;
using Azure.Data.Tables;
using ConvNeXt.Batch.Service.Contracts;
using ConvNeXt.Batch.Scoring.Pipeline;

namespace ConvNeXt.Batch.Service.Storage;

public static class RowStatus
{
    public const string Scored = "Scored";
    public const string Failed = "Failed";
}

public static class RunStatus
{
    public const string Running = "Running";
    public const string Completed = "Completed";
    public const string Failed = "Failed";

    /// <summary>
    /// Shown on read for a run whose row says <see cref="Running"/> but that made no progress for longer than the stall
    /// timeout; never stored: the timer's sweep finalizes such a run or marks it <see cref="Failed"/>.
    /// </summary>
    public const string Stalled = "Stalled";
}

/// <summary>
/// <c>Predictions</c>: one row per scored blob and model. Keys: <see cref="PredictionKeys"/> (PartitionKey = container,
/// or <c>{container}@{name}@{version}</c> for a repository model; RowKey = <see cref="TableKeys.Escape"/>(blob name)).
/// </summary>
public sealed class PredictionEntity : ITableEntity
{
    public string PartitionKey { get; set; } = "";
    public string RowKey { get; set; } = "";
    public DateTimeOffset? Timestamp { get; set; }
    public ETag ETag { get; set; }

    public string BlobName { get; set; } = "";
    public string? BlobETag { get; set; }
    public long? ContentLength { get; set; }
    public string? EventId { get; set; }
    public string Status { get; set; } = RowStatus.Scored;
    public string? ErrorReason { get; set; }
    public string? ErrorMessage { get; set; }
    public string? ModelId { get; set; }
    public string? ModelSha256 { get; set; }
    /// <summary>The repository model that wrote the row (null: the deployed model, <see cref="ModelId"/> names its file).</summary>
    public string? ModelName { get; set; }
    public string? ModelVersion { get; set; }
    /// <summary>The ONNX Runtime execution provider that ran the model (cpu, cuda, …: what <c>ImageClassifier.ExecutionProvider</c> reports).</summary>
    public string? ExecutionProvider { get; set; }
    public int? Top1Index { get; set; }
    public string? Top1Wnid { get; set; }
    public string? Top1Name { get; set; }
    public double? Top1Probability { get; set; }
    /// <summary>JSON array of <c>{index, wnid, name, probability}</c>, best first.</summary>
    public string? TopJson { get; set; }
    public double? DownloadMilliseconds { get; set; }
    public double? ScoringMilliseconds { get; set; }
    public DateTimeOffset ScoredAt { get; set; }

    /// <summary>The row for one pipeline result: the single place a <c>Predictions</c> row is shaped.</summary>
    public static PredictionEntity From(string container, string blobName, ScoredImage result, string? modelId, string? modelSha256,
        string? errorReason = null, string? errorMessage = null)
    {
        var top = PredictedClass.From(result.Top);
        var best = top is { Count: > 0 } ? top[0] : null;
        return new PredictionEntity
        {
            PartitionKey = container,
            RowKey = TableKeys.Escape(blobName),
            BlobName = blobName,
            Status = result.Succeeded ? RowStatus.Scored : RowStatus.Failed,
            ErrorReason = result.Succeeded ? null : errorReason ?? result.ErrorReason ?? FailureReason.Failed,
            ErrorMessage = result.Succeeded ? null : Truncate(errorMessage ?? result.Error),
            ModelId = modelId,
            ModelSha256 = modelSha256,
            Top1Index = best?.Index,
            Top1Wnid = best?.Wnid,
            Top1Name = best?.Name,
            Top1Probability = best?.Probability,
            TopJson = top is null ? null : PredictedClass.ToJson(top),
            DownloadMilliseconds = Math.Round(result.ReadTime.TotalMilliseconds, 2),
            ScoringMilliseconds = Math.Round((result.PreprocessTime + result.InferenceTime).TotalMilliseconds, 2),
            ScoredAt = DateTimeOffset.UtcNow,
        };
    }

    internal static string? Truncate(string? text) => text is { Length: > 2000 } ? text[..2000] + "…" : text;
}

/// <summary><c>ValidationRuns</c>: PartitionKey = <see cref="PartitionKeyValue"/>, RowKey = run id.</summary>
public sealed class ValidationRunEntity : ITableEntity
{
    public const string PartitionKeyValue = "run";

    public string PartitionKey { get; set; } = PartitionKeyValue;
    public string RowKey { get; set; } = "";
    public DateTimeOffset? Timestamp { get; set; }
    public ETag ETag { get; set; }

    public string Status { get; set; } = RunStatus.Running;
    public string? Trigger { get; set; }
    public string? ModelId { get; set; }
    public string? ModelSha256 { get; set; }
    /// <summary>The ONNX Runtime execution provider of the worker that planned the run (each chunk row records its own).</summary>
    public string? ExecutionProvider { get; set; }
    /// <summary>SHA-256 of the model's label table (<see cref="Scoring.Labels.ClassLabels.Sha256"/>): with <see cref="ModelSha256"/>, the model's identity.</summary>
    public string? LabelsSha256 { get; set; }

    /// <summary>The repository model the run validates (null: the deployed model); chunk workers load it by this reference.</summary>
    public string? ModelName { get; set; }
    public string? ModelVersion { get; set; }
    /// <summary>False for a model with random weights: the run, its report and the history say UNTRAINED.</summary>
    public bool? ModelTrained { get; set; }

    /// <summary>The repository model the run names (null: the deployed model), which its chunks load.</summary>
    public Models.ModelReference? RepositoryModel() =>
        ModelName is { } name && ModelVersion is { } version ? new Models.ModelReference(name, version) : null;
    public string DatasetContainer { get; set; } = "";
    public string? DatasetPrefix { get; set; }
    public string? LabelSource { get; set; }
    public int ExpectedImageCount { get; set; }
    public int ChunkSize { get; set; }
    public int ChunkCount { get; set; }
    public double? ReferenceTop1 { get; set; }
    public double? ReferenceTop5 { get; set; }
    public string? ReferenceSource { get; set; }
    public DateTimeOffset CreatedAt { get; set; }
    public DateTimeOffset? FinishedAt { get; set; }
    public string? FinalizedBy { get; set; }
    /// <summary>Key of the chunk signatures (base64, 32 random bytes); never leaves storage.</summary>
    public string? ChunkSigningKey { get; set; }
    /// <summary>The dataset digest (<see cref="Validation.RunPlanSummary"/>): each (blob, label) line in order with the blob's ETag; a re-created run must name the same dataset.</summary>
    public string? DatasetSha256 { get; set; }
    /// <summary>The run's plan in container <c>validation-runs</c> (<see cref="Validation.RunPlan"/>); chunk messages are ranges of it.</summary>
    public string? PlanBlob { get; set; }
    /// <summary>Why the run is <see cref="RunStatus.Failed"/> (stalled, model changed mid-run).</summary>
    public string? FailureReason { get; set; }
    /// <summary>Chunk indexes rejected for good (comma-separated), e.g. delivered to a worker with another model.</summary>
    public string? FailedChunks { get; set; }
    /// <summary>
    /// Bitmap of the chunks whose summary rows are written (<see cref="Validation.ChunkProgress"/>), set by each chunk
    /// under the row's ETag; null on runs created before it (their completion is decided by counting chunk rows).
    /// </summary>
    public byte[]? ChunksDone { get; set; }

    // Filled at finalization from the sum of the chunk rows.
    public int? ImageCount { get; set; }
    public int? ScoredCount { get; set; }
    public int? ErrorCount { get; set; }
    public double? Top1 { get; set; }
    public double? Top5 { get; set; }
    public double? MeanConfidence { get; set; }
    /// <summary>Expected calibration error of the top-1 confidence (0..1, 15 equal-width bins).</summary>
    public double? Ece { get; set; }
    /// <summary>
    /// The summed counts frozen at finalization (<see cref="Validation.FrozenTotals"/>), in container <c>validation-runs</c>;
    /// null on runs not completed, or completed before totals were frozen (their reads sum the chunk rows).
    /// </summary>
    public string? TotalsBlob { get; set; }
    /// <summary>SHA-256 (hex) of <see cref="TotalsBlob"/>'s bytes: a reader that finds others sums the chunk rows instead.</summary>
    public string? TotalsSha256 { get; set; }
}

/// <summary><c>ValidationChunks</c>: PartitionKey = run id, RowKey = chunk index (zero-padded).</summary>
public sealed class ValidationChunkEntity : ITableEntity
{
    public string PartitionKey { get; set; } = "";
    public string RowKey { get; set; } = "";
    public DateTimeOffset? Timestamp { get; set; }
    public ETag ETag { get; set; }

    public int ChunkIndex { get; set; }
    public int ImageCount { get; set; }
    public int ScoredCount { get; set; }
    public int ErrorCount { get; set; }
    /// <summary>The chunk's <c>AccuracyCounts</c> as JSON (calibration bins included): summed exactly into the run's totals.</summary>
    public string CountsJson { get; set; } = "";
    /// <summary>The ONNX Runtime execution provider that scored the chunk (cpu, cuda, …).</summary>
    public string? ExecutionProvider { get; set; }
    public DateTimeOffset ScoredAt { get; set; }
}

/// <summary><c>ValidationPredictions</c>: PartitionKey = run id, RowKey = escaped blob name.</summary>
public sealed class ValidationPredictionEntity : ITableEntity
{
    public string PartitionKey { get; set; } = "";
    public string RowKey { get; set; } = "";
    public DateTimeOffset? Timestamp { get; set; }
    public ETag ETag { get; set; }

    public string BlobName { get; set; } = "";
    public int ChunkIndex { get; set; }
    public int LabelIndex { get; set; }
    public string? LabelWnid { get; set; }
    public string? LabelName { get; set; }
    public string Status { get; set; } = RowStatus.Scored;
    public string? ErrorReason { get; set; }
    public string? ErrorMessage { get; set; }
    public int? Top1Index { get; set; }
    public string? Top1Wnid { get; set; }
    public string? Top1Name { get; set; }
    public double? Top1Probability { get; set; }
    public string? TopJson { get; set; }
    public bool Correct1 { get; set; }
    public bool Correct5 { get; set; }

    /// <summary>The row of one image of chunk <paramref name="chunkIndex"/> of run <paramref name="runId"/>, labelled <paramref name="label"/>.</summary>
    /// <param name="errorReason">Why it failed, when it did (the reader's reason before the pipeline's).</param>
    public static ValidationPredictionEntity From(string runId, int chunkIndex, string blobName, Scoring.Labels.ClassLabel label, ScoredImage result,
        string? errorReason)
    {
        var top = PredictedClass.From(result.Top);
        var best = top is { Count: > 0 } ? top[0] : null;
        return new ValidationPredictionEntity
        {
            PartitionKey = runId,
            RowKey = TableKeys.Escape(blobName),
            BlobName = blobName,
            ChunkIndex = chunkIndex,
            LabelIndex = label.Index,
            LabelWnid = label.Wnid,
            LabelName = label.Name,
            Status = result.Succeeded ? RowStatus.Scored : RowStatus.Failed,
            ErrorReason = result.Succeeded ? null : errorReason,
            ErrorMessage = PredictionEntity.Truncate(result.Error),
            Top1Index = best?.Index,
            Top1Wnid = best?.Wnid,
            Top1Name = best?.Name,
            Top1Probability = best?.Probability,
            TopJson = top is null ? null : PredictedClass.ToJson(top),
            Correct1 = best?.Index == label.Index,
            Correct5 = top?.Any(t => t.Index == label.Index) == true,
        };
    }
}
