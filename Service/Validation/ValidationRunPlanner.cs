using ConvNeXt.Batch.Service.Models;
using System.Globalization;
using System.Text.Json;
using Azure.Storage.Blobs.Specialized;
using ConvNeXt.Batch.Scoring.Labels;
using ConvNeXt.Batch.Service.Contracts;
using ConvNeXt.Batch.Service.Queries;
using ConvNeXt.Batch.Service.Services;
using ConvNeXt.Batch.Service.Storage;
using Microsoft.Extensions.Logging;

namespace ConvNeXt.Batch.Service.Validation;

/// <summary>
/// Creates validation runs: lists the dataset into the run's plan blob, writes the run row (status Running) and returns
/// the signed chunk messages to fan out. Creating a run that exists (a retried POST, a re-fired timer) checks it is the
/// same run and returns only the chunks it still misses.
/// </summary>
public sealed class ValidationRunPlanner(StorageAccount storage, ScoringEngine engine, ValidationRunStore store, ValidationOptions options,
    ValidationDefaultsOptions defaults, TimeProvider time, ILogger<ValidationRunPlanner> logger)
{
    private readonly BlobDataset _dataset = new(storage);

    /// <summary>A request with its defaults applied and checked.</summary>
    private sealed record Request(string RunId, string Container, string? Prefix, string Labels, int ChunkSize);

    /// <param name="trigger">Who started it: <c>timer</c>, <c>http</c>, <c>local</c> (recorded on the row).</param>
    /// <exception cref="DatasetException">The request or its dataset cannot make a run (400).</exception>
    public async Task<ValidationRunPlan> CreateRunAsync(ValidationRunRequest request, string trigger, CancellationToken cancellationToken = default)
    {
        var r = Resolve(request);
        var requestedModel = request.Model ?? defaults.Model;
        ModelReference? requested = null;
        if (!string.IsNullOrWhiteSpace(requestedModel) && !ModelReference.TryParse(requestedModel, out requested))
            throw new DatasetException(ModelReference.Problem(requestedModel)!);
        // Resolved once: every chunk of the run loads this exact version, whatever a promote does meanwhile.
        var exact = await engine.ResolveAsync(requested, cancellationToken);
        var model = await engine.GetModelInfoAsync(exact, cancellationToken);
        var classes = await engine.GetLabelsAsync(exact, cancellationToken);
        await storage.EnsureTablesAsync(cancellationToken);

        // The plan is written while the dataset is listed, so nothing here holds more than a block of it. A run that
        // exists already (a retried POST, a re-fired timer) only measures the listing again: its plan is written.
        var existing = await store.ReadAsync(r.RunId, cancellationToken);
        var planBlob = existing is null ? RunPlan.NewBlobName(r.RunId) : null;
        var writer = await PlanAsync(r, classes, planBlob, cancellationToken);
        var plan = await writer.FinishAsync(cancellationToken);
        var row = NewRow(r, trigger, exact, model, plan, planBlob);
        var created = false;
        if (existing is null)
        {
            CheckFanOut(row, plan);
            // The plan is committed before the run row exists, so every chunk a run row can sign is readable.
            await writer.CommitAsync(cancellationToken);
            created = await store.InsertAsync(row, cancellationToken);
            if (!created)
            {
                existing = await store.ReadAsync(r.RunId, cancellationToken)
                           ?? throw new StorageUnavailableException($"run {r.RunId} conflicted on insert but cannot be read");
                await DeletePlanAsync(planBlob!, cancellationToken);
            }
        }
        if (existing is not null)
        {
            if (Difference(existing, row) is { } difference)
                throw new DatasetException($"run '{r.RunId}' already exists with a different {difference}; use another run id");
            row = existing;
        }
        var done = created ? _ => false : await DoneAsync(row, cancellationToken);
        var chunks = Messages(row, plan).Where(c => !done(c.ChunkIndex)).ToList();
        using (logger.BeginScope(new Dictionary<string, object> { ["RunId"] = r.RunId }))
            logger.LogInformation("validation run {RunId} ({Status}): {Images} images of {Container}/{Prefix} in {Chunks} chunks, {Sending} to send, model {ModelId}",
                r.RunId, row.Status, plan.ImageCount, r.Container, r.Prefix, plan.Chunks.Count, chunks.Count, model.ModelId);
        return new ValidationRunPlan(ValidationRunSummary.From(row), chunks, created);
    }

    /// <summary>Run ids for scheduled runs derive from the schedule time, so a re-fired timer makes the same run.</summary>
    public static string NewRunId(DateTimeOffset at, bool scheduled = false) =>
        scheduled
            ? "scheduled-" + at.UtcDateTime.ToString("yyyyMMdd'T'HHmmss'Z'", CultureInfo.InvariantCulture)
            : at.UtcDateTime.ToString("yyyyMMdd'T'HHmmss'Z'", CultureInfo.InvariantCulture) + "-" + Guid.NewGuid().ToString("N")[..8];

    private Request Resolve(ValidationRunRequest request)
    {
        var container = string.IsNullOrWhiteSpace(request.Container) ? defaults.Container : request.Container;
        var prefix = request.Prefix ?? defaults.Prefix;
        var labels = string.IsNullOrWhiteSpace(request.Labels) ? defaults.Labels : request.Labels;
        if (string.IsNullOrWhiteSpace(labels))
            throw new DatasetException("no label source: give 'labels' (a val.txt blob path, 'names' or 'folders') or set ValidationDefaults__Labels");
        var chunkSize = request.ChunkSize ?? options.ChunkSize;
        if (chunkSize is < 1 or > 1000)
            throw new DatasetException("chunkSize must be between 1 and 1000");
        if (BlobNames.ContainerProblem(container) is { } containerProblem)
            throw new DatasetException(containerProblem);
        var runId = string.IsNullOrWhiteSpace(request.RunId) ? NewRunId(time.GetUtcNow()) : request.RunId;
        if (RunIds.Problem(runId) is { } runIdProblem)
            throw new DatasetException(runIdProblem);
        return new Request(runId, container, prefix, labels, chunkSize);
    }

    /// <summary>Lists the dataset into a plan writer: staging <paramref name="planBlob"/>'s blocks, or only measuring when it is null.</summary>
    private async Task<RunPlanWriter> PlanAsync(Request r, ClassLabels classes, string? planBlob, CancellationToken cancellationToken)
    {
        BlockBlobClient? target = null;
        if (planBlob is not null)
        {
            var plans = storage.Container(ContainerNames.ValidationRuns);
            await storage.Resilience.ExecuteAsync(async ct => await plans.CreateIfNotExistsAsync(cancellationToken: ct), cancellationToken);
            target = plans.GetBlockBlobClient(planBlob);
        }
        var writer = new RunPlanWriter(r.ChunkSize, target, storage);
        await foreach (var (item, etag) in _dataset.ListAsync(r.Container, r.Prefix, r.Labels, classes, cancellationToken))
            await writer.AddAsync(item, etag, cancellationToken);
        return writer;
    }

    private ValidationRunEntity NewRow(Request r, string trigger, ModelReference? exact, ModelInfo model, RunPlanSummary plan, string? planBlob) => new()
    {
        RowKey = r.RunId,
        Status = RunStatus.Running,
        Trigger = trigger,
        ModelId = exact?.ToString() ?? model.ModelId,
        ModelSha256 = model.Sha256,
        ModelName = exact?.Name,
        ModelVersion = exact?.Version,
        ModelTrained = model.Trained,
        ExecutionProvider = model.ExecutionProvider,
        LabelsSha256 = model.LabelsSha256,
        DatasetContainer = r.Container,
        DatasetPrefix = r.Prefix,
        LabelSource = r.Labels,
        ExpectedImageCount = plan.ImageCount,
        ChunkSize = r.ChunkSize,
        ChunkCount = plan.Chunks.Count,
        ReferenceTop1 = model.ReferenceTop1,
        ReferenceTop5 = model.ReferenceTop5,
        ReferenceSource = model.ReferenceSource,
        CreatedAt = time.GetUtcNow(),
        ChunkSigningKey = ChunkRules.NewKey(),
        DatasetSha256 = plan.Sha256,
        PlanBlob = planBlob,
        ChunksDone = ChunkProgress.Empty(plan.Chunks.Count),
    };

    /// <summary>Refuses (400) a run too large to track or to fan out in one response, before its plan is committed.</summary>
    private void CheckFanOut(ValidationRunEntity row, RunPlanSummary plan)
    {
        var chunkCount = plan.Chunks.Count;
        if (chunkCount > ChunkProgress.MaxChunks)
            throw new DatasetException($"{plan.ImageCount} images make {chunkCount} chunks, more than a run can track ({ChunkProgress.MaxChunks}); use a larger chunkSize");
        var messageBytes = Messages(row, plan).Sum(m => (long)JsonSerializer.SerializeToUtf8Bytes(m, ContractJson.Options).Length);
        if (messageBytes > options.MaxFanOutBytes)
            throw new DatasetException(string.Create(CultureInfo.InvariantCulture,
                $"{plan.ImageCount} images make {chunkCount} chunk messages of {messageBytes / 1e6:F1} MB in all, more than one run may send ") +
                string.Create(CultureInfo.InvariantCulture, $"({options.MaxFanOutBytes / 1e6:F1} MB, Validation__MaxFanOutBytes); use a larger chunkSize"));
    }

    /// <summary>
    /// Which chunks of an existing run are done: a completed run sends nothing again, and a run whose first fan-out was
    /// lost gets its chunks. Same dataset digest, so the same ranges.
    /// </summary>
    private async Task<Func<int, bool>> DoneAsync(ValidationRunEntity run, CancellationToken cancellationToken)
    {
        if (run.Status == RunStatus.Completed)
            return _ => true;
        if (run.ChunksDone is { } bits)
            return i => ChunkProgress.Contains(bits, i);
        return (await ChunkRowSum.ReadAsync(storage, run.RowKey, run.ChunkCount, withCounts: false, cancellationToken)).IsDone;
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
            await storage.Resilience.ExecuteAsync(async ct =>
                { await storage.Container(ContainerNames.ValidationRuns).GetBlobClient(planBlob).DeleteIfExistsAsync(cancellationToken: ct); }, cancellationToken);
        }
        catch (Exception e) when (!cancellationToken.IsCancellationRequested)
        {
            logger.LogWarning("plan {PlanBlob} of a run created concurrently was not deleted: {Reason}", planBlob, e.Message);
        }
    }

    /// <summary>The first field in which a re-created run differs from the existing one, or null when it is the same run.</summary>
    private static string? Difference(ValidationRunEntity existing, ValidationRunEntity requested)
    {
        if (existing.DatasetSha256 is null || existing.PlanBlob is null)
            return "format (created by an older version, before plan blobs)";
        if (ChunkRules.KeyProblem(existing.ChunkSigningKey) is { } key)
            return $"chunk signing key (the existing run's key {key}, so none of its chunks can be verified)";
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
        if (existing.LabelsSha256 is not null && existing.LabelsSha256 != requested.LabelsSha256)
            return "model (label table sha256)";
        if (existing.ModelName != requested.ModelName || existing.ModelVersion != requested.ModelVersion)
            return "model";
        return null;
    }
}
