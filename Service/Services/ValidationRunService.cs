using System.Globalization;
using System.Runtime.CompilerServices;
using Azure;
using Azure.Data.Tables;
using ConvNeXt.Batch.Service.Contracts;
using ConvNeXt.Batch.Service.Observability;
using ConvNeXt.Batch.Service.Queries;
using ConvNeXt.Batch.Service.Storage;
using ConvNeXt.Batch.Service.Validation;
using ConvNeXt.Batch.Scoring.Evaluation;
using ConvNeXt.Batch.Scoring.Pipeline;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace ConvNeXt.Batch.Service.Services;

/// <summary>A created run and the chunk messages to send to <c>validation-chunks</c>.</summary>
public sealed record ValidationRunPlan(ValidationRunSummary Run, IReadOnlyList<ValidationChunkMessage> Chunks);

/// <summary>What one chunk delivery did.</summary>
public sealed record ChunkOutcome(string RunId, int ChunkIndex, int Scored, int Failed, bool Finalized, bool RunCompleted);

/// <summary>
/// Validation runs: create a run row and its chunks, score a chunk (per-image rows + one summary
/// row), and finalize the run once every chunk summary exists, from the sum of the chunk rows.
/// Every write is an upsert on a deterministic key and the totals are never incremented, so any
/// number of redeliveries, in any order, in parallel, gives the same result.
/// </summary>
public sealed class ValidationRunService
{
    private readonly StorageAccount _storage;
    private readonly ScoringEngine _engine;
    private readonly BlobDataset _dataset;
    private readonly ValidationOptions _options;
    private readonly ValidationDefaultsOptions _defaults;
    private readonly ValidationQueries _queries;
    private readonly ScoringMetrics _metrics;
    private readonly ILogger _logger;

    public ValidationRunService(StorageAccount storage, ScoringEngine engine, ValidationOptions options, ValidationDefaultsOptions defaults,
        ScoringMetrics? metrics = null, ILogger<ValidationRunService>? logger = null)
    {
        _storage = storage;
        _engine = engine;
        _options = options;
        _defaults = defaults;
        _dataset = new BlobDataset(storage);
        _queries = new ValidationQueries(storage);
        _metrics = metrics ?? new ScoringMetrics();
        _logger = (ILogger?)logger ?? NullLogger.Instance;
    }

    /// <summary>Lists the dataset, writes the run row (status Running) and returns the chunks to fan out.</summary>
    /// <param name="trigger">Who started it: <c>timer</c>, <c>http</c>, <c>local</c> (recorded on the row).</param>
    public async Task<ValidationRunPlan> CreateRunAsync(ValidationRunRequest request, string trigger, CancellationToken cancellationToken = default)
    {
        var container = string.IsNullOrWhiteSpace(request.Container) ? _defaults.Container : request.Container;
        var prefix = request.Prefix ?? _defaults.Prefix;
        var labels = string.IsNullOrWhiteSpace(request.Labels) ? _defaults.Labels : request.Labels;
        if (string.IsNullOrWhiteSpace(labels))
            throw new DatasetException("no label source: give 'labels' (a val.txt blob path, 'names' or 'folders') or set ValidationDefaults__Labels");
        var chunkSize = request.ChunkSize ?? _options.ChunkSize;
        if (chunkSize is < 1 or > 1000)
            throw new DatasetException("chunkSize must be between 1 and 1000");
        var runId = string.IsNullOrWhiteSpace(request.RunId) ? NewRunId(DateTimeOffset.UtcNow) : request.RunId;
        ValidateRunId(runId);

        var model = await _engine.GetModelInfoAsync(cancellationToken);
        var classes = await _engine.GetLabelsAsync(cancellationToken);
        var items = await _dataset.ListAsync(container, prefix, labels, classes, cancellationToken);
        var chunks = items.Chunk(chunkSize).Select((slice, i) => new ValidationChunkMessage
        {
            RunId = runId,
            ChunkIndex = i,
            ChunkCount = (items.Count + chunkSize - 1) / chunkSize,
            Container = container,
            Items = slice,
        }).ToList();

        await _storage.EnsureTablesAsync(cancellationToken);
        var table = _storage.Table(TableNames.ValidationRuns);
        var row = new ValidationRunEntity
        {
            RowKey = runId,
            Status = RunStatus.Running,
            Trigger = trigger,
            ModelId = model.ModelId,
            ModelSha256 = model.Sha256,
            DatasetContainer = container,
            DatasetPrefix = prefix,
            LabelSource = labels,
            ExpectedImageCount = items.Count,
            ChunkSize = chunkSize,
            ChunkCount = chunks.Count,
            ReferenceTop1 = model.ReferenceTop1,
            ReferenceTop5 = model.ReferenceTop5,
            ReferenceSource = model.ReferenceSource,
            CreatedAt = DateTimeOffset.UtcNow,
        };
        try
        {
            // Insert, not upsert: a retried create (same run id) must not reset a run that has progressed.
            await _storage.Resilience.ExecuteAsync(async ct => { await table.AddEntityAsync(row, ct); }, cancellationToken);
        }
        catch (RequestFailedException e) when (e.Status == 409)
        {
            var existing = (await table.GetEntityAsync<ValidationRunEntity>(ValidationRunEntity.PartitionKeyValue, runId, cancellationToken: cancellationToken)).Value;
            if (existing.ExpectedImageCount != items.Count || existing.ChunkSize != chunkSize || existing.DatasetContainer != container)
                throw new DatasetException($"run '{runId}' already exists with a different dataset or chunk size");
            row = existing;
        }
        using (_logger.BeginScope(new Dictionary<string, object> { ["RunId"] = runId }))
            _logger.LogInformation("validation run {RunId}: {Images} images of {Container}/{Prefix} in {Chunks} chunks, model {ModelId}",
                runId, items.Count, container, prefix, chunks.Count, model.ModelId);
        return new ValidationRunPlan(ValidationRunSummary.From(row), chunks);
    }

    /// <summary>Scores one chunk, writes its rows, and finalizes the run if this was the last missing chunk.</summary>
    /// <exception cref="StorageUnavailableException">Storage failed through every retry: redeliver.</exception>
    public async Task<ChunkOutcome> ScoreChunkAsync(ValidationChunkMessage chunk, string? invocationId = null, CancellationToken cancellationToken = default)
    {
        ValidateRunId(chunk.RunId);
        await _storage.EnsureTablesAsync(cancellationToken);
        var classes = await _engine.GetLabelsAsync(cancellationToken);
        var scorer = new BlobScoringService(_storage, _engine, new ScoringOptions { SkipUnchanged = false }, _metrics, null);

        var rows = new List<ValidationPredictionEntity>(chunk.Items.Count);
        var counts = new AccuracyCounts();
        Exception? storageFailure = null;
        await foreach (var result in _engine.ScoreAsync(Inputs(scorer, chunk, cancellationToken), cancellationToken))
        {
            var work = (BlobScoringService.BlobWork)result.State!;
            if (work.StorageFailure is not null)
            {
                storageFailure ??= work.StorageFailure;
                continue;
            }
            var label = result.Label!.Value;
            var top = PredictedClass.From(result.Top);
            counts.Add(result);
            var best = top is { Count: > 0 } ? top[0] : null;
            var labelInfo = classes[label];
            rows.Add(new ValidationPredictionEntity
            {
                PartitionKey = chunk.RunId,
                RowKey = TableKeys.Escape(work.Blob.Name),
                BlobName = work.Blob.Name,
                ChunkIndex = chunk.ChunkIndex,
                LabelIndex = label,
                LabelWnid = labelInfo.Wnid,
                LabelName = labelInfo.Name,
                Status = result.Succeeded ? RowStatus.Scored : RowStatus.Failed,
                ErrorReason = result.Succeeded ? null : BlobScoringService.FailureReason(work, result),
                ErrorMessage = PredictionEntity.Truncate(result.Error),
                Top1Index = best?.Index,
                Top1Wnid = best?.Wnid,
                Top1Name = best?.Name,
                Top1Probability = best?.Probability,
                TopJson = top is null ? null : PredictedClass.ToJson(top),
                Correct1 = best?.Index == label,
                Correct5 = top?.Any(t => t.Index == label) == true,
            });
        }
        if (storageFailure is not null)
            throw new StorageUnavailableException($"chunk {chunk.ChunkIndex} of run {chunk.RunId}: blobs could not be read after retries: {storageFailure.Message}", storageFailure);

        await TableWrites.UpsertAsync(_storage, _storage.Table(TableNames.ValidationPredictions), rows, cancellationToken);
        var summary = new ValidationChunkEntity
        {
            PartitionKey = chunk.RunId,
            RowKey = TableKeys.ChunkKey(chunk.ChunkIndex),
            ChunkIndex = chunk.ChunkIndex,
            ImageCount = rows.Count,
            ScoredCount = rows.Count(r => r.Status == RowStatus.Scored),
            ErrorCount = rows.Count(r => r.Status == RowStatus.Failed),
            CountsJson = counts.ToJson(),
            ScoredAt = DateTimeOffset.UtcNow,
        };
        // The chunk summary is written only after all its image rows: its presence means the chunk is done.
        await _storage.Resilience.ExecuteAsync(async ct =>
            { await _storage.Table(TableNames.ValidationChunks).UpsertEntityAsync(summary, TableUpdateMode.Replace, ct); }, cancellationToken);
        _metrics.ImagesScored.Add(summary.ScoredCount);
        _metrics.ImagesFailed.Add(summary.ErrorCount);

        var (finalized, completed) = await TryFinalizeAsync(chunk.RunId, invocationId, cancellationToken);
        return new ChunkOutcome(chunk.RunId, chunk.ChunkIndex, summary.ScoredCount, summary.ErrorCount, finalized, completed);
    }

    /// <summary>
    /// Completes the run when every chunk summary is present. Totals are recomputed from the chunk rows
    /// each time (never incremented); the run row is replaced only if unchanged since it was read (ETag),
    /// so exactly one finalizer wins and a loser re-reads and finds the run completed.
    /// </summary>
    /// <returns>(this call finalized it, the run is completed).</returns>
    public async Task<(bool Finalized, bool Completed)> TryFinalizeAsync(string runId, string? invocationId, CancellationToken cancellationToken = default)
    {
        var runs = _storage.Table(TableNames.ValidationRuns);
        for (var attempt = 0; attempt < 20; attempt++)
        {
            var read = await _storage.Resilience.ExecuteAsync(async ct =>
                await runs.GetEntityIfExistsAsync<ValidationRunEntity>(ValidationRunEntity.PartitionKeyValue, runId, cancellationToken: ct), cancellationToken);
            if (!read.HasValue)
            {
                _logger.LogWarning("validation run {RunId} has no run row; chunk kept, run not finalized", runId);
                return (false, false);
            }
            var run = read.Value!;
            if (run.Status == RunStatus.Completed)
                return (false, true);
            var chunks = await _queries.ReadChunksAsync(runId, cancellationToken);
            if (chunks.Count(c => c.ChunkIndex < run.ChunkCount) < run.ChunkCount)
                return (false, false);

            var totals = RunTotals.FromChunks(chunks.Where(c => c.ChunkIndex < run.ChunkCount).OrderBy(c => c.ChunkIndex).Select(c => c.CountsJson));
            run.Status = RunStatus.Completed;
            run.FinishedAt = DateTimeOffset.UtcNow;
            run.FinalizedBy = invocationId ?? Guid.NewGuid().ToString("N");
            run.ImageCount = chunks.Sum(c => c.ImageCount);
            run.ScoredCount = chunks.Sum(c => c.ScoredCount);
            run.ErrorCount = chunks.Sum(c => c.ErrorCount);
            run.Top1 = totals.Top1;
            run.Top5 = totals.Top5;
            run.MeanConfidence = totals.MeanConfidence;
            try
            {
                await _storage.Resilience.ExecuteAsync(async ct => { await runs.UpdateEntityAsync(run, run.ETag, TableUpdateMode.Replace, ct); }, cancellationToken);
                _logger.LogInformation("validation run {RunId} completed: top-1 {Top1:P2}, top-5 {Top5:P2} over {Images} images",
                    runId, totals.Top1, totals.Top5, run.ImageCount);
                return (true, true);
            }
            catch (RequestFailedException e) when (e.Status == 412)
            {
                // Someone else changed the row since we read it: read again and decide again.
            }
        }
        throw new StorageUnavailableException($"run {runId}: gave up finalizing after repeated concurrent updates");
    }

    /// <summary>
    /// A whole run in this process, without Service Bus: create, score every chunk, finalize, report.
    /// The CLI's <c>validate</c> against a storage account and the function path share this code.
    /// </summary>
    public async Task<ValidationRunReport> RunLocallyAsync(ValidationRunRequest request, CancellationToken cancellationToken = default)
    {
        var plan = await CreateRunAsync(request, "local", cancellationToken);
        foreach (var chunk in plan.Chunks)
            await ScoreChunkAsync(chunk, "local", cancellationToken);
        return await _queries.GetRunAsync(plan.Run.RunId, cancellationToken, await _engine.GetLabelsAsync(cancellationToken))
            ?? throw new InvalidOperationException($"run {plan.Run.RunId} vanished");
    }

    /// <summary>Run ids for scheduled runs derive from the schedule time, so a re-fired timer makes the same run.</summary>
    public static string NewRunId(DateTimeOffset at, bool scheduled = false) =>
        scheduled
            ? "scheduled-" + at.UtcDateTime.ToString("yyyyMMdd'T'HHmmss'Z'", CultureInfo.InvariantCulture)
            : at.UtcDateTime.ToString("yyyyMMdd'T'HHmmss'Z'", CultureInfo.InvariantCulture) + "-" + Guid.NewGuid().ToString("N")[..8];

    private static void ValidateRunId(string runId)
    {
        if (runId.Length is 0 or > 100 || !runId.All(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '_' or '.'))
            throw new DatasetException("a run id is 1-100 characters of letters, digits, '-', '_' or '.'");
    }

    private static async IAsyncEnumerable<ImageInput> Inputs(BlobScoringService scorer, ValidationChunkMessage chunk,
        [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        foreach (var item in chunk.Items)
        {
            cancellationToken.ThrowIfCancellationRequested();
            var work = new BlobScoringService.BlobWork(new BlobReference(chunk.Container, item.Blob));
            yield return new ImageInput(item.Blob, ct => scorer.DownloadAsync(work, ct)) { Label = item.Label, State = work };
        }
        await Task.CompletedTask;
    }
}
