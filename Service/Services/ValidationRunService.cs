using System.Globalization;
using System.Runtime.CompilerServices;
using Azure;
using Azure.Data.Tables;
using Azure.Storage.Blobs.Specialized;
using System.Text.Json;
using ConvNeXt.Batch.Service.Contracts;
using ConvNeXt.Batch.Service.Models;
using ConvNeXt.Batch.Service.Observability;
using ConvNeXt.Batch.Service.Queries;
using ConvNeXt.Batch.Service.Storage;
using ConvNeXt.Batch.Service.Validation;
using ConvNeXt.Batch.Scoring.Evaluation;
using ConvNeXt.Batch.Scoring.Labels;
using ConvNeXt.Batch.Scoring.Pipeline;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace ConvNeXt.Batch.Service.Services;

/// <summary>A run and the chunk messages to send to <c>validation-chunks</c>.</summary>
/// <param name="Created">False when the run already existed (then only its missing chunks are in <paramref name="Chunks"/>).</param>
public sealed record ValidationRunPlan(ValidationRunSummary Run, IReadOnlyList<ValidationChunkMessage> Chunks, bool Created = true);

/// <summary>The model could not run a batch (device out of memory, driver fault): fail the invocation so the chunk is redelivered.</summary>
public sealed class InferenceUnavailableException(string message) : Exception(message);

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
    private readonly BlobImageReader _reader;
    private readonly BlobDataset _dataset;
    private readonly ValidationOptions _options;
    private readonly ValidationDefaultsOptions _defaults;
    private readonly ValidationQueries _queries;
    private readonly ScoringMetrics _metrics;
    private readonly ILogger _logger;

    /// <param name="reader">Reads the images (with the configured size limit); the same reader event scoring uses.</param>
    public ValidationRunService(StorageAccount storage, ScoringEngine engine, BlobImageReader reader, ValidationOptions options,
        ValidationDefaultsOptions defaults, ScoringMetrics? metrics = null, ILogger<ValidationRunService>? logger = null, ValidationQueries? queries = null)
    {
        _storage = storage;
        _engine = engine;
        _reader = reader;
        _options = options;
        _defaults = defaults;
        _dataset = new BlobDataset(storage);
        _queries = queries ?? new ValidationQueries(storage, new StalledRuns(storage, options));
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
        if (BlobNames.ContainerProblem(container) is { } containerProblem)
            throw new DatasetException(containerProblem);
        var runId = string.IsNullOrWhiteSpace(request.RunId) ? NewRunId(DateTimeOffset.UtcNow) : request.RunId;
        if (RunIds.Problem(runId) is { } runIdProblem)
            throw new DatasetException(runIdProblem);

        var requestedModel = request.Model ?? _defaults.Model;
        ModelReference? requested = null;
        if (!string.IsNullOrWhiteSpace(requestedModel) && !ModelReference.TryParse(requestedModel, out requested))
            throw new DatasetException(ModelReference.Problem(requestedModel)!);
        // Resolved once: every chunk of the run loads this exact version, whatever a promote does meanwhile.
        var exact = await _engine.ResolveAsync(requested, cancellationToken);
        var model = await _engine.GetModelInfoAsync(exact, cancellationToken);
        var classes = await _engine.GetLabelsAsync(exact, cancellationToken);
        await _storage.EnsureTablesAsync(cancellationToken);
        var table = _storage.Table(TableNames.ValidationRuns);

        // The plan is written while the dataset is listed, so nothing here holds more than a block of it. A run that
        // exists already (a retried POST, a re-fired timer) only measures the listing again: its plan is written.
        var existing = await ReadRunAsync(runId, cancellationToken);
        var planBlob = existing is null ? RunPlan.NewBlobName(runId) : null;
        var writer = await PlanAsync(container, prefix, labels, classes, chunkSize, planBlob, cancellationToken);
        var plan = await writer.FinishAsync(cancellationToken);
        var chunkCount = plan.Chunks.Count;
        var row = new ValidationRunEntity
        {
            RowKey = runId,
            Status = RunStatus.Running,
            Trigger = trigger,
            ModelId = exact?.ToString() ?? model.ModelId,
            ModelSha256 = model.Sha256,
            ModelName = exact?.Name,
            ModelVersion = exact?.Version,
            ModelTrained = model.Trained,
            DatasetContainer = container,
            DatasetPrefix = prefix,
            LabelSource = labels,
            ExpectedImageCount = plan.ImageCount,
            ChunkSize = chunkSize,
            ChunkCount = chunkCount,
            ReferenceTop1 = model.ReferenceTop1,
            ReferenceTop5 = model.ReferenceTop5,
            ReferenceSource = model.ReferenceSource,
            CreatedAt = DateTimeOffset.UtcNow,
            ChunkSigningKey = ChunkRules.NewKey(),
            DatasetSha256 = plan.Sha256,
            PlanBlob = planBlob,
            ChunksDone = ChunkProgress.Empty(chunkCount),
        };
        var created = existing is null;
        if (created)
        {
            if (chunkCount > ChunkProgress.MaxChunks)
                throw new DatasetException($"{plan.ImageCount} images make {chunkCount} chunks, more than a run can track ({ChunkProgress.MaxChunks}); use a larger chunkSize");
            var messageBytes = Messages(row, plan).Sum(m => (long)JsonSerializer.SerializeToUtf8Bytes(m, ContractJson.Options).Length);
            if (messageBytes > _options.MaxFanOutBytes)
                throw new DatasetException(string.Create(CultureInfo.InvariantCulture,
                    $"{plan.ImageCount} images make {chunkCount} chunk messages of {messageBytes / 1e6:F1} MB in all, more than one run may send ") +
                    string.Create(CultureInfo.InvariantCulture, $"({_options.MaxFanOutBytes / 1e6:F1} MB, Validation__MaxFanOutBytes); use a larger chunkSize"));
            // The plan is committed before the run row exists, so every chunk a run row can sign is readable.
            await writer.CommitAsync(cancellationToken);
            try
            {
                // Insert, not upsert: a concurrent create of the same run id must not reset a run that has progressed.
                await _storage.Resilience.ExecuteAsync(async ct => { await table.AddEntityAsync(row, ct); }, cancellationToken);
            }
            catch (RequestFailedException e) when (e.Status == 409)
            {
                existing = await ReadRunAsync(runId, cancellationToken) ?? throw new StorageUnavailableException($"run {runId} conflicted on insert but cannot be read");
                created = false;
                await DeletePlanAsync(planBlob!, cancellationToken);
            }
        }
        Func<int, bool> done = _ => false;
        if (existing is not null)
        {
            if (Difference(existing, row) is { } difference)
                throw new DatasetException($"run '{runId}' already exists with a different {difference}; use another run id");
            row = existing;
            // The same run again: send only what is still missing, so a completed run sends nothing and a run whose
            // first fan-out was lost gets its chunks. Same dataset digest, so the same ranges.
            if (row.Status == RunStatus.Completed)
                done = _ => true;
            else if (row.ChunksDone is { } bits)
                done = i => ChunkProgress.Contains(bits, i);
            else
                done = (await ChunkRowSum.ReadAsync(_storage, runId, row.ChunkCount, withCounts: false, cancellationToken)).IsDone;
        }
        var chunks = Messages(row, plan).Where(c => !done(c.ChunkIndex)).ToList();
        using (_logger.BeginScope(new Dictionary<string, object> { ["RunId"] = runId }))
            _logger.LogInformation("validation run {RunId} ({Status}): {Images} images of {Container}/{Prefix} in {Chunks} chunks, {Sending} to send, model {ModelId}",
                runId, row.Status, plan.ImageCount, container, prefix, chunkCount, chunks.Count, model.ModelId);
        return new ValidationRunPlan(ValidationRunSummary.From(row), chunks, created);
    }

    /// <summary>Lists the dataset into a plan writer: staging <paramref name="planBlob"/>'s blocks, or only measuring when it is null.</summary>
    private async Task<RunPlanWriter> PlanAsync(string container, string? prefix, string labels, ClassLabels classes, int chunkSize, string? planBlob,
        CancellationToken cancellationToken)
    {
        BlockBlobClient? target = null;
        if (planBlob is not null)
        {
            var plans = _storage.Container(ContainerNames.ValidationRuns);
            await _storage.Resilience.ExecuteAsync(async ct => await plans.CreateIfNotExistsAsync(cancellationToken: ct), cancellationToken);
            target = plans.GetBlockBlobClient(planBlob);
        }
        var writer = new RunPlanWriter(chunkSize, target, _storage);
        await foreach (var item in _dataset.ListAsync(container, prefix, labels, classes, cancellationToken))
            await writer.AddAsync(item, cancellationToken);
        return writer;
    }

    /// <summary>The signed chunk messages of a run's plan.</summary>
    private static IEnumerable<ValidationChunkMessage> Messages(ValidationRunEntity run, RunPlanSummary plan) =>
        plan.Chunks.Select((range, i) => ChunkRules.Sign(new ValidationChunkMessage
        {
            RunId = run.RowKey,
            ChunkIndex = i,
            ChunkCount = plan.Chunks.Count,
            Container = run.DatasetContainer,
            Plan = range,
        }, run.ChunkSigningKey!));

    /// <summary>Removes a plan that lost the race to create its run; one left behind is unreferenced and harmless.</summary>
    private async Task DeletePlanAsync(string planBlob, CancellationToken cancellationToken)
    {
        try
        {
            await _storage.Resilience.ExecuteAsync(async ct =>
                { await _storage.Container(ContainerNames.ValidationRuns).GetBlobClient(planBlob).DeleteIfExistsAsync(cancellationToken: ct); }, cancellationToken);
        }
        catch (Exception e) when (!cancellationToken.IsCancellationRequested)
        {
            _logger.LogWarning("plan {PlanBlob} of a run created concurrently was not deleted: {Reason}", planBlob, e.Message);
        }
    }

    /// <summary>The first field in which a re-created run differs from the existing one, or null when it is the same run.</summary>
    private static string? Difference(ValidationRunEntity existing, ValidationRunEntity requested)
    {
        if (existing.ChunkSigningKey is null || existing.DatasetSha256 is null || existing.PlanBlob is null)
            return "format (created by an older version, before plan blobs)";
        if (existing.DatasetContainer != requested.DatasetContainer)
            return "container";
        if ((existing.DatasetPrefix ?? "") != (requested.DatasetPrefix ?? ""))
            return "prefix";
        if (existing.LabelSource != requested.LabelSource)
            return "label source";
        if (existing.ChunkSize != requested.ChunkSize)
            return "chunk size";
        if (existing.ExpectedImageCount != requested.ExpectedImageCount || existing.ChunkCount != requested.ChunkCount ||
            existing.DatasetSha256 != requested.DatasetSha256)
            return "dataset (images or labels changed)";
        if (existing.ModelSha256 != requested.ModelSha256)
            return "model (sha256)";
        if (existing.ModelName != requested.ModelName || existing.ModelVersion != requested.ModelVersion)
            return "model";
        return null;
    }

    /// <summary>Scores one chunk, writes its rows, and finalizes the run if this was the last missing chunk.</summary>
    /// <exception cref="StorageUnavailableException">Storage failed through every retry: redeliver.</exception>
    /// <exception cref="InvalidChunkException">The message is malformed, not planned by its run, or for another model: complete it, never retry.</exception>
    public async Task<ChunkOutcome> ScoreChunkAsync(ValidationChunkMessage chunk, string? invocationId = null, CancellationToken cancellationToken = default)
    {
        // Everything is checked before the first read of an image or write of a row.
        if (ChunkRules.Problem(chunk) is { } shape)
            throw new InvalidChunkException(shape);
        await _storage.EnsureTablesAsync(cancellationToken);
        var run = await ReadRunAsync(chunk.RunId, cancellationToken) ?? throw new InvalidChunkException("the run does not exist");
        var runModel = RunModel(run);
        ClassLabels classes;
        try
        {
            classes = await _engine.GetLabelsAsync(runModel, cancellationToken);
        }
        catch (Exception e) when (runModel is not null && e is ModelNotFoundException or ModelIntegrityException)
        {
            // The run's model cannot be used (gone, or its file fails the manifest): permanent; the run says why.
            // A manifest that cannot be read (storage down) is not caught here: the message is redelivered.
            var reason = $"chunk {chunk.ChunkIndex} not scored: {e.Message}";
            await RecordFailedChunkAsync(chunk.RunId, chunk.ChunkIndex, reason, cancellationToken);
            throw new InvalidChunkException(reason);
        }
        if (ChunkRules.Problem(chunk, run) is { } mismatch)
            throw new InvalidChunkException(mismatch);
        if (run.Status == RunStatus.Completed)
            return new ChunkOutcome(chunk.RunId, chunk.ChunkIndex, 0, 0, Finalized: false, RunCompleted: true);
        var items = await RunPlan.ReadChunkAsync(_storage, run.PlanBlob!, chunk.Plan, cancellationToken);
        if (ChunkRules.ItemsProblem(items, classes.Count) is { } itemProblem)
            throw new InvalidChunkException(itemProblem);
        var model = await _engine.GetModelInfoAsync(runModel, cancellationToken);
        if (!string.Equals(model.Sha256, run.ModelSha256, StringComparison.OrdinalIgnoreCase))
        {
            // Counting it would sum two models under one hash; the message is completed, so the run cannot complete.
            var reason = $"chunk {chunk.ChunkIndex} reached a worker whose model sha256 {model.Sha256[..12]}… differs from the run's " +
                         $"{run.ModelSha256?[..Math.Min(12, run.ModelSha256.Length)]}… (model changed mid-run)";
            await RecordFailedChunkAsync(chunk.RunId, chunk.ChunkIndex, reason, cancellationToken);
            throw new InvalidChunkException(reason);
        }

        var rows = new List<ValidationPredictionEntity>(items.Count);
        var counts = new AccuracyCounts();
        Exception? storageFailure = null;
        string? inferenceFailure = null;
        await foreach (var result in _engine.ScoreAsync(Inputs(chunk.Container, items), runModel, cancellationToken))
        {
            var work = (BlobWork)result.State!;
            if (work.StorageFailure is not null)
            {
                storageFailure ??= work.StorageFailure;
                continue;
            }
            if (result.ErrorReason == InferenceFailedReason)
            {
                // The images were decoded to the model's input size, so a failed batch is the device (out of
                // memory, driver fault), not the images: retry the chunk rather than count them as errors.
                inferenceFailure ??= result.Error;
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
        // Transient: nothing of this chunk is written (no image row, no chunk row, no run total); the
        // invocation fails and the redelivery scores the whole chunk again.
        if (storageFailure is not null)
            throw new StorageUnavailableException($"chunk {chunk.ChunkIndex} of run {chunk.RunId}: blobs could not be read after retries: {storageFailure.Message}", storageFailure);
        if (inferenceFailure is not null)
            throw new InferenceUnavailableException($"chunk {chunk.ChunkIndex} of run {chunk.RunId}: {inferenceFailure}");

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

        bool finalized, completed;
        using (var span = PipelineTracing.StartStage("finalize"))
        {
            (finalized, completed) = await CompleteChunkAsync(chunk.RunId, chunk.ChunkIndex, invocationId, cancellationToken);
            span?.SetTag("convnext.finalized", finalized);
        }
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
            var chunks = await ChunkRowSum.ReadAsync(_storage, runId, run.ChunkCount, cancellationToken: cancellationToken);
            if (await CompleteAsync(run, chunks, invocationId, cancellationToken) is not { } totals)
                return (false, false);
            try
            {
                if (BeforeFinalizeWrite is { } gate)
                    await gate(cancellationToken);
                await _storage.Resilience.ExecuteAsync(async ct => { await runs.UpdateEntityAsync(run, run.ETag, TableUpdateMode.Replace, ct); }, cancellationToken);
                LogCompleted(run, totals);
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
    /// Records a chunk (whose rows are all written) as done on its run, and completes the run when it was the
    /// last one missing. Costs one read and at most one conditional write of the run row per chunk, whatever
    /// the run's size: the chunk rows are read only by the delivery that finds every chunk done. Setting the
    /// bit is idempotent (a redelivery writes nothing), the write is conditional on the row's ETag (concurrent
    /// chunks never lose each other's bits: a 412 re-reads and decides again), and the write that sets the last
    /// bit is the one that completes the run, with totals summed from the chunk rows, so exactly one delivery
    /// finalizes. Runs created before the bitmap fall back to <see cref="TryFinalizeAsync"/>.
    /// </summary>
    /// <returns>(this call finalized it, the run is completed).</returns>
    public async Task<(bool Finalized, bool Completed)> CompleteChunkAsync(string runId, int chunkIndex, string? invocationId,
        CancellationToken cancellationToken = default)
    {
        var runs = _storage.Table(TableNames.ValidationRuns);
        for (var attempt = 0; attempt < MaxRunRowAttempts; attempt++)
        {
            var run = await ReadRunAsync(runId, cancellationToken);
            if (run is null)
            {
                _logger.LogWarning("validation run {RunId} has no run row; chunk kept, run not finalized", runId);
                return (false, false);
            }
            if (run.Status == RunStatus.Completed)
                return (false, true);
            if (run.ChunksDone is null)
                return await TryFinalizeAsync(runId, invocationId, cancellationToken);

            var alreadyDone = ChunkProgress.Contains(run.ChunksDone, chunkIndex);
            run.ChunksDone = ChunkProgress.With(run.ChunksDone, chunkIndex);
            RunTotals? totals = null;
            if (ChunkProgress.Count(run.ChunksDone, run.ChunkCount) == run.ChunkCount)
            {
                totals = await CompleteAsync(run, await ChunkRowSum.ReadAsync(_storage, runId, run.ChunkCount, cancellationToken: cancellationToken), invocationId, cancellationToken);
                if (totals is null)
                    _logger.LogWarning("validation run {RunId}: every chunk is marked done but chunk rows are missing; not finalized", runId);
            }
            if (totals is null && alreadyDone)
                return (false, false);
            try
            {
                if (totals is not null && BeforeFinalizeWrite is { } gate)
                    await gate(cancellationToken);
                await _storage.Resilience.ExecuteAsync(async ct => { await runs.UpdateEntityAsync(run, run.ETag, TableUpdateMode.Replace, ct); }, cancellationToken);
                if (totals is null)
                    return (false, false);
                LogCompleted(run, totals);
                return (true, true);
            }
            catch (RequestFailedException e) when (e.Status == 412)
            {
                // Another chunk (or a finalizer) wrote the row since we read it: read again and decide again, after a
                // short random pause so that a crowd of concurrent chunks does not collide again in lockstep.
                await Task.Delay(Random.Shared.Next(0, 10 * (1 + Math.Min(attempt, 10))), cancellationToken);
            }
        }
        throw new StorageUnavailableException($"run {runId}: gave up recording chunk {chunkIndex} after repeated concurrent updates");
    }

    /// <summary>Up to this many read-decide-write rounds on a run row contended by concurrent chunks.</summary>
    private const int MaxRunRowAttempts = 100;

    /// <summary>
    /// Marks <paramref name="run"/> completed with the totals summed from its chunk rows (never increments), or
    /// returns null and leaves it unchanged when a chunk row is missing. The sum is frozen in a blob first
    /// (<see cref="FrozenTotals"/>), so reads of the completed run need not sum the chunk rows again; the caller's
    /// conditional write of the row comes after it, so no run is marked completed without its totals blob, and a
    /// storage failure writing it fails the delivery, which is redelivered.
    /// </summary>
    private async Task<RunTotals?> CompleteAsync(ValidationRunEntity run, ChunkRowSum chunks, string? invocationId, CancellationToken cancellationToken)
    {
        if (!chunks.Complete)
            return null;
        (run.TotalsBlob, run.TotalsSha256) = await FrozenTotals.WriteAsync(_storage, run.RowKey, chunks.Counts, cancellationToken);
        var totals = RunTotals.From(chunks.Counts);
        run.Status = RunStatus.Completed;
        run.FinishedAt = DateTimeOffset.UtcNow;
        run.FinalizedBy = invocationId ?? Guid.NewGuid().ToString("N");
        run.ImageCount = checked((int)chunks.Images);
        run.ScoredCount = checked((int)chunks.Scored);
        run.ErrorCount = checked((int)chunks.Errors);
        run.Top1 = totals.Top1;
        run.Top5 = totals.Top5;
        run.MeanConfidence = totals.MeanConfidence;
        run.Ece = totals.Ece;
        // Every chunk is in: a run failed earlier (stalled, or a chunk rejected) has now completed after all.
        run.FailureReason = null;
        return totals;
    }

    private void LogCompleted(ValidationRunEntity run, RunTotals totals) =>
        _logger.LogInformation("validation run {RunId} completed: top-1 {Top1:P2}, top-5 {Top5:P2} over {Images} images",
            run.RowKey, totals.Top1, totals.Top5, run.ImageCount);

    /// <summary>
    /// A whole run in this process, without Service Bus: create, score every chunk, finalize, report.
    /// The CLI's <c>validate</c> against a storage account and the function path share this code.
    /// </summary>
    public async Task<ValidationRunReport> RunLocallyAsync(ValidationRunRequest request, CancellationToken cancellationToken = default)
    {
        var plan = await CreateRunAsync(request, "local", cancellationToken);
        foreach (var chunk in plan.Chunks)
            await ScoreChunkAsync(chunk, "local", cancellationToken);
        var model = plan.Run.Model is { } name ? ModelReference.Parse(name) : null;
        return await _queries.GetRunAsync(plan.Run.RunId, cancellationToken, await _engine.GetLabelsAsync(model, cancellationToken))
            ?? throw new InvalidOperationException($"run {plan.Run.RunId} vanished");
    }

    /// <summary>The repository model a run names (null: the deployed model).</summary>
    public static ModelReference? RunModel(ValidationRunEntity run) =>
        run.ModelName is { } name && run.ModelVersion is { } version ? new ModelReference(name, version) : null;

    /// <summary>Run ids for scheduled runs derive from the schedule time, so a re-fired timer makes the same run.</summary>
    public static string NewRunId(DateTimeOffset at, bool scheduled = false) =>
        scheduled
            ? "scheduled-" + at.UtcDateTime.ToString("yyyyMMdd'T'HHmmss'Z'", CultureInfo.InvariantCulture)
            : at.UtcDateTime.ToString("yyyyMMdd'T'HHmmss'Z'", CultureInfo.InvariantCulture) + "-" + Guid.NewGuid().ToString("N")[..8];

    private const string InferenceFailedReason = "InferenceFailed";

    /// <summary>Test seam: runs between a finalizer's read of the run row and its conditional write.</summary>
    internal Func<CancellationToken, Task>? BeforeFinalizeWrite { get; set; }

    private async Task<ValidationRunEntity?> ReadRunAsync(string runId, CancellationToken cancellationToken)
    {
        var read = await _storage.Resilience.ExecuteAsync(async ct =>
            await _storage.Table(TableNames.ValidationRuns).GetEntityIfExistsAsync<ValidationRunEntity>(ValidationRunEntity.PartitionKeyValue, runId,
                cancellationToken: ct), cancellationToken);
        return read.HasValue ? read.Value : null;
    }

    /// <summary>Records a chunk rejected for good on its run, which then cannot complete: Failed, with the reason.</summary>
    private async Task RecordFailedChunkAsync(string runId, int chunkIndex, string reason, CancellationToken cancellationToken)
    {
        var runs = _storage.Table(TableNames.ValidationRuns);
        for (var attempt = 0; attempt < 20; attempt++)
        {
            var run = await ReadRunAsync(runId, cancellationToken);
            if (run is null || run.Status == RunStatus.Completed)
                return;
            var failed = ValidationQueries.FailedChunkIndexes(run.FailedChunks);
            if (failed.Contains(chunkIndex) && run.Status == RunStatus.Failed)
                return;
            run.FailedChunks = string.Join(',', failed.Append(chunkIndex).Distinct().Order());
            run.Status = RunStatus.Failed;
            run.FailureReason = reason;
            run.FinishedAt ??= DateTimeOffset.UtcNow;
            try
            {
                await _storage.Resilience.ExecuteAsync(async ct => { await runs.UpdateEntityAsync(run, run.ETag, TableUpdateMode.Replace, ct); }, cancellationToken);
                _logger.LogWarning("validation run {RunId} failed: {Reason}", runId, reason);
                return;
            }
            catch (RequestFailedException e) when (e.Status == 412)
            {
                // Changed since read: read again.
            }
        }
        throw new StorageUnavailableException($"run {runId}: gave up recording a failed chunk after repeated concurrent updates");
    }

    private IAsyncEnumerable<ImageInput> Inputs(string container, IReadOnlyList<LabelledBlob> items) =>
        items.Select(item =>
        {
            var work = new BlobWork(new BlobReference(container, item.Blob));
            return new ImageInput(item.Blob, ct => _reader.ReadAsync(work, ct)) { Label = item.Label, State = work };
        }).ToAsyncEnumerable();
}
