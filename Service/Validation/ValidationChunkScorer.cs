using ConvNeXt.Batch.Service.Models;
using Azure.Data.Tables;
using ConvNeXt.Batch.Scoring.Evaluation;
using ConvNeXt.Batch.Scoring.Labels;
using ConvNeXt.Batch.Scoring.Pipeline;
using ConvNeXt.Batch.Scoring.Preprocessing;
using ConvNeXt.Batch.Service.Contracts;
using ConvNeXt.Batch.Service.Observability;
using ConvNeXt.Batch.Service.Services;
using ConvNeXt.Batch.Service.Storage;

namespace ConvNeXt.Batch.Service.Validation;

/// <summary>
/// Scores one chunk of a validation run: checks the message against its run, scores the chunk's images, writes one row
/// per image and then the chunk's summary row (its presence means the chunk is done), and hands the chunk to the
/// <see cref="ValidationRunFinalizer"/>. Every write is an upsert on a deterministic key, so a redelivery rewrites the
/// same rows. A failure that is not a property of an image (storage, the device, a decode that timed out under load)
/// writes nothing and fails the delivery, so it is redelivered; only an image's own fault becomes an error row.
/// </summary>
public sealed class ValidationChunkScorer(StorageAccount storage, ScoringEngine engine, BlobImageReader reader, ValidationRunStore store,
    ValidationRunFinalizer finalizer, ScoringMetrics metrics, TimeProvider time)
{


    /// <summary>What a chunk's images came to: a row each and their counts.</summary>
    private sealed record Scored(List<ValidationPredictionEntity> Rows, AccuracyCounts Counts);

    /// <exception cref="StorageUnavailableException">Storage failed through every retry, or refused a read: redeliver.</exception>
    /// <exception cref="InferenceUnavailableException">The worker could not score now (device, decode under load): redeliver.</exception>
    /// <exception cref="InvalidChunkException">The message is malformed, not planned by its run, or for another model: complete it, never retry.</exception>
    public async Task<ChunkOutcome> ScoreChunkAsync(ValidationChunkMessage chunk, string? invocationId = null, CancellationToken cancellationToken = default)
    {
        // Everything is checked before the first read of an image or write of a row.
        if (ChunkRules.Problem(chunk) is { } shape)
            throw new InvalidChunkException(shape);
        await storage.EnsureTablesAsync(cancellationToken);
        var run = await store.ReadAsync(chunk.RunId, cancellationToken) ?? throw new InvalidChunkException("the run does not exist");
        var runModel = run.RepositoryModel();
        ClassLabels classes;
        try
        {
            classes = await engine.GetLabelsAsync(runModel, cancellationToken);
        }
        catch (Exception e) when (runModel is not null && e is ModelNotFoundException or ModelIntegrityException)
        {
            // The run's model cannot be used (gone, or its file fails the manifest): permanent; the run says why.
            // A manifest that cannot be read (storage down) is not caught here: the message is redelivered.
            var reason = $"chunk {chunk.ChunkIndex} not scored: {e.Message}";
            await finalizer.FailAsync(chunk.RunId, reason, chunk.ChunkIndex, cancellationToken: cancellationToken);
            throw new InvalidChunkException(reason);
        }
        await CheckRunAsync(chunk, run, cancellationToken);
        if (run.Status == RunStatus.Completed)
            return new ChunkOutcome(chunk.RunId, chunk.ChunkIndex, 0, 0, Finalized: false, RunCompleted: true);
        var items = await RunPlan.ReadChunkAsync(storage, run.PlanBlob!, chunk.Plan, cancellationToken);
        if (ChunkRules.ItemsProblem(items, classes.Count) is { } itemProblem)
            throw new InvalidChunkException(itemProblem);
        var model = await CheckModelAsync(chunk, run, runModel, cancellationToken);

        var scored = await ScoreAsync(chunk, items, classes, runModel, cancellationToken);
        var summary = await WriteAsync(chunk, scored, model.ExecutionProvider, cancellationToken);
        metrics.ImagesScored.Add(summary.ScoredCount);
        metrics.ImagesFailed.Add(summary.ErrorCount);

        bool finalized, completed;
        using (var span = PipelineTracing.StartStage("finalize"))
        {
            (finalized, completed) = await finalizer.CompleteChunkAsync(chunk.RunId, chunk.ChunkIndex, invocationId, cancellationToken);
            span?.SetTag("convnext.finalized", finalized);
        }
        return new ChunkOutcome(chunk.RunId, chunk.ChunkIndex, summary.ScoredCount, summary.ErrorCount, finalized, completed);
    }

    /// <summary>The message against its run. A run whose signing key is unusable can never verify a chunk: it fails.</summary>
    private async Task CheckRunAsync(ValidationChunkMessage chunk, ValidationRunEntity run, CancellationToken cancellationToken)
    {
        if (ChunkRules.KeyProblem(run.ChunkSigningKey) is { } key && run.Status != RunStatus.Completed)
        {
            var reason = $"the run's chunk signing key {key}: none of its chunks can be verified";
            await finalizer.FailAsync(chunk.RunId, reason, chunk.ChunkIndex, cancellationToken: cancellationToken);
            throw new InvalidChunkException(reason);
        }
        if (ChunkRules.Problem(chunk, run) is { } mismatch)
            throw new InvalidChunkException(mismatch);
    }

    /// <summary>
    /// The worker's model (weights and label table) against the run's: counting a chunk scored by another would sum two
    /// models under one identity, so the chunk is recorded as failed on the run, which cannot complete without it.
    /// </summary>
    /// <returns>The worker's model, as checked.</returns>
    private async Task<ModelInfo> CheckModelAsync(ValidationChunkMessage chunk, ValidationRunEntity run, ModelReference? runModel, CancellationToken cancellationToken)
    {
        var model = await engine.GetModelInfoAsync(runModel, cancellationToken);
        string? reason = null;
        if (!string.Equals(model.Sha256, run.ModelSha256, StringComparison.OrdinalIgnoreCase))
            reason = $"chunk {chunk.ChunkIndex} reached a worker whose model sha256 {model.Sha256[..12]}… differs from the run's " +
                     $"{run.ModelSha256?[..Math.Min(12, run.ModelSha256.Length)]}… (model changed mid-run)";
        else if (run.LabelsSha256 is not null && !string.Equals(model.LabelsSha256, run.LabelsSha256, StringComparison.OrdinalIgnoreCase))
            reason = $"chunk {chunk.ChunkIndex} reached a worker whose label table sha256 {model.LabelsSha256?[..Math.Min(12, model.LabelsSha256.Length)]}… " +
                     $"differs from the run's {run.LabelsSha256[..Math.Min(12, run.LabelsSha256.Length)]}… (labels changed mid-run)";
        if (reason is null)
            return model;
        await finalizer.FailAsync(chunk.RunId, reason, chunk.ChunkIndex, cancellationToken: cancellationToken);
        throw new InvalidChunkException(reason);
    }

    /// <summary>Scores the chunk's images into rows; throws, writing nothing, when any failure is not the image's own.</summary>
    private async Task<Scored> ScoreAsync(ValidationChunkMessage chunk, IReadOnlyList<LabelledBlob> items, ClassLabels classes, ModelReference? model,
        CancellationToken cancellationToken)
    {
        var rows = new List<ValidationPredictionEntity>(items.Count);
        var counts = new AccuracyCounts();
        Exception? storageFailure = null;
        string? readFailure = null, inferenceFailure = null, decodeTimeout = null;
        await foreach (var result in engine.ScoreAsync(Inputs(chunk.Container, items), model, cancellationToken))
        {
            var work = (BlobWork)result.State!;
            if (work.StorageFailure is not null)
            {
                storageFailure ??= work.StorageFailure;
                continue;
            }
            if (result.ErrorReason == FailureReason.ReadFailed && !work.Missing && !work.TooLarge)
            {
                // Storage answered, but not with the image (403 while roles propagate after a deploy): not the image's fault.
                readFailure ??= result.Error;
                continue;
            }
            if (result.ErrorReason == FailureReason.Timeout)
            {
                // Decoding ran out of time, which on a loaded worker says more about the worker than the image.
                decodeTimeout ??= result.Error;
                continue;
            }
            if (result.ErrorReason == FailureReason.InferenceFailed)
            {
                // The images were decoded to the model's input size, so a failed batch is the device (out of
                // memory, driver fault), not the images: retry the chunk rather than count them as errors.
                inferenceFailure ??= result.Error;
                continue;
            }
            counts.Add(result);
            rows.Add(ValidationPredictionEntity.From(chunk.RunId, chunk.ChunkIndex, work.Blob.Name, classes[result.Label!.Value], result,
                BlobScoringService.ReasonOf(work, result)));
        }
        // Nothing of this chunk is written (no image row, no chunk row, no run total); the invocation fails and the
        // redelivery scores the whole chunk again.
        var where = $"chunk {chunk.ChunkIndex} of run {chunk.RunId}";
        if (storageFailure is not null)
            throw new StorageUnavailableException($"{where}: blobs could not be read after retries: {storageFailure.Message}", storageFailure);
        if (readFailure is not null)
            throw new StorageUnavailableException($"{where}: storage refused a read: {readFailure}");
        if (inferenceFailure is not null)
            throw new InferenceUnavailableException($"{where}: {inferenceFailure}");
        if (decodeTimeout is not null)
            throw new InferenceUnavailableException($"{where}: {decodeTimeout}");
        return new Scored(rows, counts);
    }

    /// <summary>The image rows, then the chunk's summary row: written only after all its image rows, its presence means the chunk is done.</summary>
    private async Task<ValidationChunkEntity> WriteAsync(ValidationChunkMessage chunk, Scored scored, string provider, CancellationToken cancellationToken)
    {
        await TableWrites.UpsertAsync(storage, storage.Table(TableNames.ValidationPredictions), scored.Rows, cancellationToken);
        var summary = new ValidationChunkEntity
        {
            PartitionKey = chunk.RunId,
            RowKey = TableKeys.ChunkKey(chunk.ChunkIndex),
            ChunkIndex = chunk.ChunkIndex,
            ImageCount = scored.Rows.Count,
            ScoredCount = scored.Rows.Count(r => r.Status == RowStatus.Scored),
            ErrorCount = scored.Rows.Count(r => r.Status == RowStatus.Failed),
            CountsJson = scored.Counts.ToJson(),
            ExecutionProvider = provider,
            ScoredAt = time.GetUtcNow(),
        };
        await storage.Resilience.ExecuteAsync(async ct =>
            { await storage.Table(TableNames.ValidationChunks).UpsertEntityAsync(summary, TableUpdateMode.Replace, ct); }, cancellationToken);
        return summary;
    }

    private IAsyncEnumerable<ImageInput> Inputs(string container, IReadOnlyList<LabelledBlob> items) =>
        items.Select(item =>
        {
            var work = new BlobWork(new BlobReference(container, item.Blob));
            return new ImageInput(item.Blob, ct => reader.ReadAsync(work, ct)) { Label = item.Label, State = work };
        }).ToAsyncEnumerable();
}
