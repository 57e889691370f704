using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Azure;
using Azure.Data.Tables;
using Azure.Storage.Blobs.Models;
using ConvNeXt.Batch.Service.Contracts;
using ConvNeXt.Batch.Service.Models;
using ConvNeXt.Batch.Service.Queries;
using ConvNeXt.Batch.Service.Services;
using ConvNeXt.Batch.Service.Storage;
using ConvNeXt.Batch.Service.Validation;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace ConvNeXt.Batch.Service.Jobs;

/// <summary>
/// Scoring jobs: a backfill of what a container already holds, fanned out like validation runs but planned
/// incrementally. Starting a job writes its row and the first planner message; each planner step lists at most
/// <see cref="ScoringJobOptions.PagesPerStep"/> pages (one chunk per page), writes each chunk's blob list once, and
/// returns the chunk messages and a signed continuation message, until the listing ends. A chunk scores its blobs
/// through <see cref="BlobScoringService"/> (which skips blobs this model already scored at the same ETag), inserts
/// its count row once, and sets its bit in the job row's bitmap under the row's ETag together with its counts, so a
/// chunk delivered twice, late or out of order is counted once. A cancelled job scores no new chunk.
/// </summary>
/// <param name="models">Resolves a job's model reference; null for a reader that only reads and cancels jobs (the CLI's <c>jobs status/list/cancel</c>).</param>
public sealed class ScoringJobService(StorageAccount storage, JobModels? models, ScoringJobOptions options, ILogger<ScoringJobService>? logger = null)
{
    public const string JobsTable = "ScoringJobs";
    public const string ChunksTable = "ScoringJobChunks";
    public const string ListsContainer = "scoring-jobs";

    private readonly ILogger _logger = (ILogger?)logger ?? NullLogger.Instance;
    private bool _created;

    private JobModels Models => models ?? throw new InvalidOperationException("this job service reads jobs only: it was built without models");

    /// <summary>Checks the request, writes the job row (Running) and returns it with the first planner message.</summary>
    /// <exception cref="JobRequestException">Container outside the allow-list or missing, or a bad prefix (HTTP 400).</exception>
    /// <exception cref="UnknownModelException">The model reference does not resolve (HTTP 404).</exception>
    public async Task<(ScoringJobStatus Job, JobPlanMessage First)> StartAsync(ScoringJobRequest request, CancellationToken cancellationToken = default)
    {
        var container = request.Container;
        if (string.IsNullOrWhiteSpace(container))
            throw new JobRequestException("container is required");
        if (BlobNames.ContainerProblem(container) is { } problem)
            throw new JobRequestException(problem);
        if (!options.Allowed().Contains(container, StringComparer.Ordinal))
            throw new JobRequestException($"container '{container}' is not one jobs may score (ScoringJobs__AllowedContainers: {string.Join(", ", options.Allowed())})");
        if (request.Prefix is { Length: > 1024 })
            throw new JobRequestException("prefix is longer than a blob name can be");
        if (string.IsNullOrWhiteSpace(request.Model))
            throw new JobRequestException("model is required (NAME@VERSION)");
        var (exact, sha256) = await Models.ResolveAsync(request.Model, cancellationToken);
        var exists = await storage.Resilience.ExecuteAsync(async ct => (await storage.Container(container).ExistsAsync(ct)).Value, cancellationToken);
        if (!exists)
            throw new JobRequestException($"container '{container}' does not exist");

        await EnsureCreatedAsync(cancellationToken);
        var now = DateTimeOffset.UtcNow;
        var row = new ScoringJobEntity
        {
            RowKey = "job-" + now.UtcDateTime.ToString("yyyyMMdd'T'HHmmss'Z'", CultureInfo.InvariantCulture) + "-" + Guid.NewGuid().ToString("N")[..8],
            Container = container,
            Prefix = string.IsNullOrEmpty(request.Prefix) ? null : request.Prefix,
            Model = exact,
            ModelSha256 = sha256,
            ChunkSize = options.ChunkSize,
            SigningKey = MessageSigner.NewKey(),
            CreatedAt = now,
        };
        await storage.Resilience.ExecuteAsync(async ct => { await storage.Table(JobsTable).AddEntityAsync(row, ct); }, cancellationToken);
        _logger.LogInformation("scoring job {JobId}: {Container}/{Prefix} with {Model}", row.RowKey, container, row.Prefix, row.Model);
        return (ScoringJobStatus.From(row), SignPlan(row, new JobPlanMessage { JobId = row.RowKey, Step = 0, FirstChunk = 0 }));
    }

    /// <summary>
    /// One planner step: lists up to <see cref="ScoringJobOptions.PagesPerStep"/> pages from the message's position,
    /// writes each page's blob list (once: a redelivered step finds the lists written and uses them), records the step
    /// on the job row, and returns the chunk messages and the next step's message.
    /// </summary>
    /// <exception cref="InvalidChunkException">The message is malformed or not signed by its job (permanent).</exception>
    public async Task<JobStepResult> PlanStepAsync(JobPlanMessage step, CancellationToken cancellationToken = default)
    {
        if (step is null || RunIds.Problem(step.JobId) is not null || step.Step < 0 || step.FirstChunk < 0)
            throw new InvalidChunkException("the planner message is malformed");
        await EnsureCreatedAsync(cancellationToken);
        var job = await ReadAsync(step.JobId, cancellationToken) ?? throw new InvalidChunkException("the job does not exist");
        if (!MessageSigner.Verify(job.SigningKey, step.Signature, PlanFields(step)))
            throw new InvalidChunkException("signature does not match the job");
        if (JobStates.IsFinal(job.Status))
            return new JobStepResult([], null);

        var chunks = new List<JobChunkMessage>();
        var continuation = step.Continuation;
        long blobs = 0;
        var client = storage.Container(job.Container);
        for (var page = 0; page < Math.Max(1, options.PagesPerStep); page++)
        {
            var from = continuation;
            Page<BlobItem>? listed;
            try
            {
                listed = await storage.Resilience.ExecuteAsync(async ct =>
                {
                    await foreach (var p in client.GetBlobsAsync(new GetBlobsOptions { Prefix = job.Prefix }, ct).AsPages(from, job.ChunkSize).WithCancellation(ct))
                        return p;
                    return null;
                }, cancellationToken);
            }
            catch (RequestFailedException e) when (StorageFailures.Classify(e, cancellationToken) == StorageFailureKind.Permanent)
            {
                await FailAsync(job.RowKey, $"the container cannot be listed (storage answered {e.Status} {e.ErrorCode})", cancellationToken);
                return new JobStepResult([], null);
            }
            continuation = string.IsNullOrEmpty(listed?.ContinuationToken) ? null : listed.ContinuationToken;
            var items = listed?.Values.Where(b => BlobNames.Problem(b.Name) is null).Select(b => new JobBlob(b.Name, b.Properties.ETag?.ToString())).ToList() ?? [];
            if (items.Count > 0)
            {
                chunks.Add(await WriteChunkAsync(job, step.FirstChunk + chunks.Count, items, cancellationToken));
                blobs += chunks[^1].Count;
            }
            if (continuation is null)
                break;
        }

        var finished = continuation is null;
        await UpdateAsync(job.RowKey, row =>
        {
            if (row.PlanSteps > step.Step || JobStates.IsFinal(row.Status))
                return false; // a redelivered step: counted by its first delivery
            row.PlanSteps = step.Step + 1;
            row.ChunksPlanned = step.FirstChunk + chunks.Count;
            row.BlobsPlanned += blobs;
            row.PlanningDone = finished;
            CompleteIfDone(row);
            return true;
        }, cancellationToken);
        var next = finished ? null : SignPlan(job, new JobPlanMessage
            { JobId = job.RowKey, Step = step.Step + 1, FirstChunk = step.FirstChunk + chunks.Count, Continuation = continuation });
        return new JobStepResult(chunks, next);
    }

    /// <summary>Scores one chunk and counts it on its job, once whatever the number and order of deliveries.</summary>
    /// <exception cref="InvalidChunkException">Malformed, not signed by its job, its list differs from the signed digest, or the job's
    /// model is no longer in the repository (the job is then Failed with the reason): permanent.</exception>
    /// <exception cref="StorageUnavailableException">Storage failed through every retry: redeliver.</exception>
    public async Task<JobChunkOutcome> ScoreChunkAsync(JobChunkMessage chunk, CancellationToken cancellationToken = default)
    {
        if (chunk is null || RunIds.Problem(chunk.JobId) is not null || chunk.ChunkIndex < 0 || chunk.ChunkIndex >= ChunkProgress.MaxChunks || chunk.Count < 1)
            throw new InvalidChunkException("the chunk message is malformed");
        await EnsureCreatedAsync(cancellationToken);
        var job = await ReadAsync(chunk.JobId, cancellationToken) ?? throw new InvalidChunkException("the job does not exist");
        if (!MessageSigner.Verify(job.SigningKey, chunk.Signature, ChunkFields(chunk)))
            throw new InvalidChunkException("signature does not match the job");
        // Cancelled: nothing new is scored; chunks done before are kept. Already counted: a redelivery scores nothing.
        if (JobStates.IsFinal(job.Status) || ChunkProgress.Contains(job.ChunksDone, chunk.ChunkIndex))
            return new JobChunkOutcome(chunk.JobId, chunk.ChunkIndex, false, 0, 0, 0, job.Status);

        var blobs = await ReadChunkAsync(job.RowKey, chunk, cancellationToken);
        BlobScoringResult result;
        try
        {
            result = await Models.ScoreAsync(job.Model, blobs.Select(b => new BlobReference(job.Container, b.Blob, b.ETag)), cancellationToken);
        }
        catch (ModelNotFoundException e)
        {
            // The job's exact version left the repository after the job was made: no delivery can score it (permanent),
            // so the job says why and the message is not retried. A manifest that cannot be read is transient and propagates.
            var reason = $"chunk {chunk.ChunkIndex} not scored: {e.Message}";
            await FailAsync(job.RowKey, reason, cancellationToken);
            throw new InvalidChunkException(reason);
        }

        // The first delivery to finish inserts the count row; a concurrent duplicate reads it, so both add the same.
        var counts = new ScoringJobChunkEntity
        {
            PartitionKey = job.RowKey, RowKey = TableKeys.ChunkKey(chunk.ChunkIndex), ChunkIndex = chunk.ChunkIndex,
            Scored = result.Scored, Skipped = result.Skipped, Failed = result.Failed, ScoredAt = DateTimeOffset.UtcNow,
            ExecutionProvider = await Models.ExecutionProviderAsync(job.Model, cancellationToken),
        };
        try
        {
            await storage.Resilience.ExecuteAsync(async ct => { await storage.Table(ChunksTable).AddEntityAsync(counts, ct); }, cancellationToken);
        }
        catch (RequestFailedException e) when (e.Status == 409)
        {
            counts = (await storage.Resilience.ExecuteAsync(async ct =>
                await storage.Table(ChunksTable).GetEntityAsync<ScoringJobChunkEntity>(job.RowKey, TableKeys.ChunkKey(chunk.ChunkIndex), cancellationToken: ct), cancellationToken)).Value;
        }

        var counted = false;
        var status = await UpdateAsync(job.RowKey, row =>
        {
            counted = false;
            if (ChunkProgress.Contains(row.ChunksDone, chunk.ChunkIndex))
                return false;
            var bits = row.ChunksDone;
            if (bits.Length * 8 <= chunk.ChunkIndex)
                Array.Resize(ref bits, chunk.ChunkIndex / 8 + 1);
            row.ChunksDone = ChunkProgress.With(bits, chunk.ChunkIndex);
            row.ChunksCompleted++;
            row.Scored += counts.Scored;
            row.Skipped += counts.Skipped;
            row.Failed += counts.Failed;
            row.LastChunkAt = DateTimeOffset.UtcNow;
            CompleteIfDone(row);
            counted = true;
            return true;
        }, cancellationToken);
        return new JobChunkOutcome(chunk.JobId, chunk.ChunkIndex, counted, counts.Scored, counts.Skipped, counts.Failed, status?.Status ?? JobStates.Running);
    }

    /// <summary>Cancels a running job: no new chunk is scored, no new page planned; counted chunks stay. Null for an unknown job.</summary>
    public async Task<ScoringJobStatus?> CancelAsync(string jobId, CancellationToken cancellationToken = default)
    {
        // No table: no job to cancel (ReadAsync answers null), and nothing is created for it.
        if (RunIds.Problem(jobId) is not null)
            return null;
        var row = await UpdateAsync(jobId, row =>
        {
            if (JobStates.IsFinal(row.Status))
                return false;
            row.Status = JobStates.Cancelled;
            row.FinishedAt = DateTimeOffset.UtcNow;
            return true;
        }, cancellationToken);
        return row is null ? null : ScoringJobStatus.From(row);
    }

    /// <summary>A job's status; reads never create the job tables (a read-only identity gets its answer).</summary>
    public async Task<ScoringJobStatus?> GetAsync(string jobId, CancellationToken cancellationToken = default)
    {
        return RunIds.Problem(jobId) is null && await ReadAsync(jobId, cancellationToken) is { } row ? ScoringJobStatus.From(row) : null;
    }

    /// <summary>Jobs, newest last (job ids sort by creation time), a page at a time.</summary>
    public async Task<ResultPage<ScoringJobStatus>> ListAsync(int? top = null, string? continuationToken = null, CancellationToken cancellationToken = default)
    {
        try
        {
            return await KeysetPaging.QueryAsync<ScoringJobEntity, ScoringJobStatus>(storage.Table(JobsTable), storage.Resilience,
                TableClient.CreateQueryFilter($"PartitionKey eq {ScoringJobEntity.PartitionKeyValue}"), KeysetPaging.Top(top), continuationToken,
                ScoringJobStatus.From, cancellationToken);
        }
        catch (RequestFailedException e) when (StorageAccount.IsTableNotFound(e))
        {
            return new ResultPage<ScoringJobStatus>([], null);
        }
    }

    /// <summary>
    /// A whole job in this process (<c>serve</c>, <c>jobs start</c>): the same planner steps and chunks as the queues
    /// deliver, one after the other, stopping when the job is cancelled.
    /// </summary>
    public async Task<ScoringJobStatus> RunAsync(JobPlanMessage first, Action<ScoringJobStatus>? progress = null, CancellationToken cancellationToken = default)
    {
        for (JobPlanMessage? step = first; step is not null;)
        {
            var planned = await PlanStepAsync(step, cancellationToken);
            foreach (var chunk in planned.Chunks)
            {
                var outcome = await ScoreChunkAsync(chunk, cancellationToken);
                if (progress is not null && await GetAsync(first.JobId, cancellationToken) is { } now)
                    progress(now);
                if (outcome.JobStatus is JobStates.Cancelled or JobStates.Failed)
                    return (await GetAsync(first.JobId, cancellationToken))!;
            }
            step = planned.Next;
        }
        return (await GetAsync(first.JobId, cancellationToken))!;
    }

    private static void CompleteIfDone(ScoringJobEntity row)
    {
        if (row.Status == JobStates.Running && row.PlanningDone && row.ChunksCompleted >= row.ChunksPlanned)
        {
            row.Status = JobStates.Completed;
            row.FinishedAt = DateTimeOffset.UtcNow;
        }
    }

    private async Task FailAsync(string jobId, string reason, CancellationToken cancellationToken) =>
        await UpdateAsync(jobId, row =>
        {
            if (JobStates.IsFinal(row.Status))
                return false;
            (row.Status, row.FailureReason, row.FinishedAt) = (JobStates.Failed, reason, DateTimeOffset.UtcNow);
            return true;
        }, cancellationToken);

    /// <summary>Read, change, write under the row's ETag until no one else wrote between; the row as written (or as read, when unchanged). Null when there is no such job.</summary>
    private async Task<ScoringJobEntity?> UpdateAsync(string jobId, Func<ScoringJobEntity, bool> change, CancellationToken cancellationToken)
    {
        for (var attempt = 0; attempt < 100; attempt++)
        {
            var row = await ReadAsync(jobId, cancellationToken);
            if (row is null || !change(row))
                return row;
            try
            {
                await storage.Resilience.ExecuteAsync(async ct => { await storage.Table(JobsTable).UpdateEntityAsync(row, row.ETag, TableUpdateMode.Replace, ct); }, cancellationToken);
                return row;
            }
            catch (RequestFailedException e) when (e.Status == 412)
            {
                await Task.Delay(Random.Shared.Next(0, 10 * (1 + Math.Min(attempt, 10))), cancellationToken);
            }
        }
        throw new StorageUnavailableException($"job {jobId}: gave up updating its row after repeated concurrent updates");
    }

    private async Task<ScoringJobEntity?> ReadAsync(string jobId, CancellationToken cancellationToken)
    {
        try
        {
            var read = await storage.Resilience.ExecuteAsync(async ct =>
                await storage.Table(JobsTable).GetEntityIfExistsAsync<ScoringJobEntity>(ScoringJobEntity.PartitionKeyValue, jobId, cancellationToken: ct), cancellationToken);
            return read.HasValue ? read.Value : null;
        }
        catch (RequestFailedException e) when (StorageAccount.IsTableNotFound(e))
        {
            return null;
        }
    }

    private sealed record JobBlob(string Blob, string? ETag);

    private static string ListBlobName(string jobId, int chunkIndex) => $"{jobId}/chunk-{chunkIndex.ToString("D7", CultureInfo.InvariantCulture)}.jsonl";

    /// <summary>Writes a chunk's list once (create-only); a redelivered step finds it written and signs what is there.</summary>
    private async Task<JobChunkMessage> WriteChunkAsync(ScoringJobEntity job, int chunkIndex, IReadOnlyList<JobBlob> items, CancellationToken cancellationToken)
    {
        var blob = storage.Container(ListsContainer).GetBlobClient(ListBlobName(job.RowKey, chunkIndex));
        var bytes = Encoding.UTF8.GetBytes(string.Concat(items.Select(i => JsonSerializer.Serialize(new { blob = i.Blob, etag = i.ETag }) + "\n")));
        try
        {
            await storage.Resilience.ExecuteAsync(async ct =>
            {
                await blob.UploadAsync(new BinaryData(bytes), new BlobUploadOptions { Conditions = new BlobRequestConditions { IfNoneMatch = ETag.All } }, ct);
            }, cancellationToken);
        }
        catch (RequestFailedException e) when (e.Status is 409 or 412)
        {
            bytes = await storage.Resilience.ExecuteAsync(async ct => (await blob.DownloadContentAsync(ct)).Value.Content.ToArray(), cancellationToken);
        }
        var count = bytes.Count(b => b == (byte)'\n');
        var message = new JobChunkMessage { JobId = job.RowKey, ChunkIndex = chunkIndex, Count = count, Sha256 = Convert.ToHexStringLower(SHA256.HashData(bytes)) };
        return message with { Signature = MessageSigner.Sign(job.SigningKey, ChunkFields(message)) };
    }

    private async Task<IReadOnlyList<JobBlob>> ReadChunkAsync(string jobId, JobChunkMessage chunk, CancellationToken cancellationToken)
    {
        byte[] bytes;
        try
        {
            bytes = await storage.Resilience.ExecuteAsync(async ct =>
                (await storage.Container(ListsContainer).GetBlobClient(ListBlobName(jobId, chunk.ChunkIndex)).DownloadContentAsync(ct)).Value.Content.ToArray(), cancellationToken);
        }
        catch (RequestFailedException e) when (StorageFailures.Classify(e, cancellationToken) == StorageFailureKind.Permanent)
        {
            throw new InvalidChunkException($"the chunk's list cannot be read (storage answered {e.Status} {e.ErrorCode})");
        }
        if (!Convert.ToHexStringLower(SHA256.HashData(bytes)).Equals(chunk.Sha256, StringComparison.Ordinal))
            throw new InvalidChunkException("the chunk's list is not the one the job signed");
        var items = new List<JobBlob>(chunk.Count);
        foreach (var line in Encoding.UTF8.GetString(bytes).Split('\n', StringSplitOptions.RemoveEmptyEntries))
        {
            using var doc = JsonDocument.Parse(line);
            var name = doc.RootElement.GetProperty("blob").GetString();
            if (name is null || BlobNames.Problem(name) is not null)
                throw new InvalidChunkException($"item {items.Count} of the chunk's list is not a blob name");
            items.Add(new JobBlob(name, doc.RootElement.TryGetProperty("etag", out var etag) ? etag.GetString() : null));
        }
        if (items.Count != chunk.Count)
            throw new InvalidChunkException($"the chunk's list holds {items.Count} blobs, not {chunk.Count}");
        return items;
    }

    private static JobPlanMessage SignPlan(ScoringJobEntity job, JobPlanMessage step) => step with { Signature = MessageSigner.Sign(job.SigningKey, PlanFields(step)) };

    private static string[] PlanFields(JobPlanMessage m) =>
        ["plan", m.JobId, m.Step.ToString(CultureInfo.InvariantCulture), m.FirstChunk.ToString(CultureInfo.InvariantCulture), m.Continuation ?? ""];

    private static string[] ChunkFields(JobChunkMessage m) =>
        ["chunk", m.JobId, m.ChunkIndex.ToString(CultureInfo.InvariantCulture), m.Count.ToString(CultureInfo.InvariantCulture), m.Sha256];

    private async Task EnsureCreatedAsync(CancellationToken cancellationToken)
    {
        if (_created)
            return;
        await storage.Resilience.ExecuteAsync(async ct =>
        {
            await storage.Tables.CreateTableIfNotExistsAsync(JobsTable, ct);
            await storage.Tables.CreateTableIfNotExistsAsync(ChunksTable, ct);
            await storage.Container(ListsContainer).CreateIfNotExistsAsync(cancellationToken: ct);
        }, cancellationToken);
        _created = true;
    }
}
