using Azure.Data.Tables;
using ConvNeXt.Batch.Scoring.Importers;
using ConvNeXt.Batch.Scoring.Inference;
using ConvNeXt.Batch.Scoring.Labels;
using ConvNeXt.Batch.Scoring.Models;
using ConvNeXt.Batch.Scoring.Onnx;
using ConvNeXt.Batch.Scoring.Preprocessing;
using ConvNeXt.Batch.Service.Api;
using ConvNeXt.Batch.Service.Jobs;
using ConvNeXt.Batch.Service.Services;
using ConvNeXt.Batch.Service.Storage;
using ConvNeXt.Batch.Service.Validation;
using Microsoft.Extensions.DependencyInjection;

namespace ConvNeXt.Batch.Functions.Tests;

/// <summary>
/// Scoring jobs on Azurite with a real (small, random-weight) ConvNeXt and real JPEGs: incremental planning, chunks
/// delivered duplicated and shuffled, a second job over the same container, cancellation, refusals.
/// </summary>
[Collection(FunctionsCollection.Name)]
public sealed class ScoringJobTests(FunctionsFixture fixture) : IAsyncLifetime
{
    private string _folder = "";
    private ScoringEngine _engine = null!;
    private JobModels _models = null!;
    private string _model = "";
    private readonly byte[] _jpeg = File.ReadAllBytes(Path.Combine(Repository.ImagenetSamples, "n03825788_nipple.JPEG"));

    public async Task InitializeAsync()
    {
        _folder = Directory.CreateTempSubdirectory("convnext-jobs-").FullName;
        var path = Path.Combine(_folder, "job_model.onnx");
        ConvNeXtOnnxBuilder.BuildToFile(RandomWeights.Create(new ConvNeXtSpec("jobmodel", [1, 1, 1, 1], [8, 16, 32, 64]), 1000, seed: 5),
            new ModelBuildOptions { Labels = ClassLabels.Load(Repository.LabelsFile), Preprocessing = PreprocessingSettings.Timm(32) }, path);
        _engine = new ScoringEngine(ImageClassifier.Load(path), new ScoringOptions { BatchSize = 32, DecodeWorkers = 2 });
        _models = new JobModels(_engine, ServiceGraph.For(Storage, _engine, new Dictionary<string, string?> { ["Scoring:BatchSize"] = "32", ["Scoring:DecodeWorkers"] = "2" })
            .GetRequiredService<BlobScoringService>());
        _model = (await _engine.GetModelInfoAsync()).ModelId + "@1";
    }

    public Task DisposeAsync()
    {
        _engine.Dispose();
        Directory.Delete(_folder, recursive: true);
        return Task.CompletedTask;
    }

    private StorageAccount Storage => fixture.Services.GetRequiredService<StorageAccount>();

    private ScoringJobService Jobs(params string[] allowed) =>
        new(Storage, _models, new ScoringJobOptions { AllowedContainers = allowed, ChunkSize = 50, PagesPerStep = 4 });

    private async Task UploadAsync(string container, int count)
    {
        var client = fixture.Blobs.GetBlobContainerClient(container);
        await client.CreateIfNotExistsAsync();
        await Parallel.ForEachAsync(Enumerable.Range(0, count), new ParallelOptions { MaxDegreeOfParallelism = 16 }, async (i, ct) =>
            await client.GetBlobClient($"backfill/{i:D5}.jpg").UploadAsync(new BinaryData(_jpeg), overwrite: true, ct));
    }

    private async Task<int> RowCountAsync(string container)
    {
        var count = 0;
        await foreach (var _ in new TableClient(fixture.ConnectionString, TableNames.Predictions)
                           .QueryAsync<TableEntity>(TableClient.CreateQueryFilter($"PartitionKey eq {container}"), select: ["RowKey"]))
            count++;
        return count;
    }

    [Fact]
    public async Task A_job_over_2000_blobs_planned_incrementally_with_duplicated_and_shuffled_deliveries_counts_exactly_and_a_second_job_skips_them_all()
    {
        await UploadAsync("jobs-2000", 2000);
        var jobs = Jobs("jobs-2000");
        var (job, first) = await jobs.StartAsync(new ScoringJobRequest { Container = "jobs-2000", Model = _model });
        Assert.Equal((JobStates.Running, 0L), (job.Status, job.Planned));

        // Planner steps: 4 pages of 50 per step, so 10 steps for 40 chunks; step 3 is delivered twice.
        var chunks = new List<JobChunkMessage>();
        var steps = 0;
        for (var step = first; step is not null; steps++)
        {
            var result = await jobs.PlanStepAsync(step);
            Assert.InRange(result.Chunks.Count, 0, 4);
            if (steps == 3)
            {
                var again = await jobs.PlanStepAsync(step);
                Assert.Equal(result.Chunks, again.Chunks); // the same lists, the same signed messages
                Assert.Equal(result.Next, again.Next);
            }
            chunks.AddRange(result.Chunks);
            step = result.Next;
        }
        Assert.Equal((10, 40), (steps, chunks.Count));
        var planned = (await jobs.GetAsync(job.JobId))!;
        Assert.Equal((2000L, 40, true, JobStates.Running), (planned.Planned, planned.ChunksPlanned, planned.PlanningDone, planned.Status));

        // Deliveries: every chunk, ten of them again, shuffled, four at a time.
        var deliveries = chunks.Concat(chunks.Take(10)).OrderBy(_ => Random.Shared.Next()).ToList();
        var counted = 0;
        await Parallel.ForEachAsync(deliveries, new ParallelOptions { MaxDegreeOfParallelism = 4 }, async (chunk, ct) =>
        {
            if ((await jobs.ScoreChunkAsync(chunk, ct)).Counted)
                Interlocked.Increment(ref counted);
        });
        Assert.Equal(40, counted);
        var done = (await jobs.GetAsync(job.JobId))!;
        Assert.Equal((JobStates.Completed, 2000L, 2000L, 0L, 0L, 40), (done.Status, done.Planned, done.Done, done.Skipped, done.Failed, done.ChunksDone));
        Assert.NotNull(done.ImagesPerSecond);
        Assert.Equal(2000, await RowCountAsync("jobs-2000"));
        // Each chunk row says which execution provider scored it (no GPU here: the CPU).
        var chunkRows = new Azure.Data.Tables.TableClient(fixture.ConnectionString, ScoringJobService.ChunksTable)
            .Query<ScoringJobChunkEntity>(e => e.PartitionKey == job.JobId).ToList();
        Assert.Equal(40, chunkRows.Count);
        Assert.All(chunkRows, c => Assert.Equal("cpu", c.ExecutionProvider));

        // Reads never write: an identity that may only read gets the job and the list (creating the tables would be refused).
        var readOnly = new ScoringJobService(new StorageAccount(new StorageOptions { ConnectionString = fixture.ReadOnlyConnectionString() }), _models,
            new ScoringJobOptions { AllowedContainers = ["jobs-2000"] });
        Assert.Equal(2000L, (await readOnly.GetAsync(job.JobId))!.Done);
        Assert.Contains((await readOnly.ListAsync(top: 1000)).Items, j => j.JobId == job.JobId);

        // A forged chunk (another index under the same signature) is refused before anything is read.
        await Assert.ThrowsAsync<InvalidChunkException>(() => jobs.ScoreChunkAsync(chunks[0] with { ChunkIndex = 41 }));

        // A second job on the same container and model skips everything the first scored (same ETags).
        var (second, secondFirst) = await jobs.StartAsync(new ScoringJobRequest { Container = "jobs-2000", Model = _model });
        var end = await jobs.RunAsync(secondFirst);
        Assert.Equal((JobStates.Completed, 2000L, 0L, 2000L, 0L), (end.Status, end.Planned, end.Done, end.Skipped, end.Failed));
        Assert.NotEqual(job.JobId, second.JobId);
    }

    [Fact]
    public async Task Cancel_mid_job_scores_no_new_chunk_and_keeps_the_done_ones()
    {
        await UploadAsync("jobs-cancel", 300);
        var jobs = Jobs("jobs-cancel");
        var api = new ScoringJobApi(jobs);
        var started = await api.StartAsync($$"""{"container":"jobs-cancel","prefix":"backfill/","model":"{{_model}}"}""");
        Assert.Equal(201, started.Response.StatusCode);
        var jobId = ((ScoringJobStatus)started.Response.Body!).JobId;
        var result = await jobs.PlanStepAsync(started.Value!);
        Assert.Equal(4, result.Chunks.Count);
        Assert.NotNull(result.Next);

        Assert.True((await jobs.ScoreChunkAsync(result.Chunks[0])).Counted);
        Assert.True((await jobs.ScoreChunkAsync(result.Chunks[2])).Counted);
        var cancelled = await api.CancelAsync(jobId);
        Assert.Equal((200, JobStates.Cancelled), (cancelled.StatusCode, ((ScoringJobStatus)cancelled.Body!).Status));

        // After the cancel: the remaining chunks score nothing, the planner plans nothing more.
        foreach (var chunk in result.Chunks)
            Assert.False((await jobs.ScoreChunkAsync(chunk)).Counted);
        var next = await jobs.PlanStepAsync(result.Next!);
        Assert.Equal((0, (JobPlanMessage?)null), (next.Chunks.Count, next.Next));
        var status = (ScoringJobStatus)(await api.GetAsync(jobId)).Body!;
        Assert.Equal((JobStates.Cancelled, 100L, 2, 200L), (status.Status, status.Done, status.ChunksDone, status.Planned));
        Assert.Equal(100, await RowCountAsync("jobs-cancel"));
        Assert.Equal((200, JobStates.Cancelled), ((await api.CancelAsync(jobId)).StatusCode, status.Status)); // cancelling again changes nothing

        var page = await ServiceGraph.For(Storage, _engine).GetRequiredService<ReportApi>().JobReportAsync(jobId, ConvNeXt.Batch.Service.Reports.PageLinks.Direct);
        var html = System.Text.Encoding.UTF8.GetString(page.Content!.Bytes);
        Assert.Contains("id=\"status\" class=\"bad\">Cancelled</b>", html);
        Assert.Contains("id=\"done\" data-value=\"100\"", html);
    }

    [Fact]
    public async Task A_container_deleted_mid_job_fails_the_job_with_the_reason_and_plans_nothing_more()
    {
        await UploadAsync("jobs-gone", 120);
        var jobs = new ScoringJobService(Storage, _models, new ScoringJobOptions { AllowedContainers = ["jobs-gone"], ChunkSize = 50, PagesPerStep = 1 });
        var (job, first) = await jobs.StartAsync(new ScoringJobRequest { Container = "jobs-gone", Model = _model });
        var step = await jobs.PlanStepAsync(first);
        Assert.Single(step.Chunks);
        await fixture.Blobs.GetBlobContainerClient("jobs-gone").DeleteAsync();

        var next = await jobs.PlanStepAsync(step.Next!);
        Assert.Equal((0, (JobPlanMessage?)null), (next.Chunks.Count, next.Next));
        var failed = (await jobs.GetAsync(job.JobId))!;
        Assert.Equal(JobStates.Failed, failed.Status);
        Assert.StartsWith("the container cannot be listed (storage answered 404", failed.FailureReason);
        Assert.False((await jobs.ScoreChunkAsync(step.Chunks[0])).Counted); // a failed job scores nothing more
    }

    [Fact]
    public async Task A_container_outside_the_allow_list_is_400_an_unknown_model_404_and_an_unknown_job_404()
    {
        var api = new ScoringJobApi(Jobs("images"));
        var outside = await api.StartAsync($$"""{"container":"other","model":"{{_model}}"}""");
        Assert.Equal(400, outside.Response.StatusCode);
        Assert.Contains("container 'other' is not one jobs may score", ((ApiProblem)outside.Response.Body!).Error);
        Assert.Null(outside.Value);
        var model = await api.StartAsync("""{"container":"images","model":"nosuchmodel@3"}""");
        Assert.Equal((404, "unknown model 'nosuchmodel@3'"), (model.Response.StatusCode, ((ApiProblem)model.Response.Body!).Error));
        Assert.Equal(400, (await api.StartAsync("{not json")).Response.StatusCode);
        Assert.Equal(404, (await api.GetAsync("job-none")).StatusCode);
        Assert.Equal(404, (await api.CancelAsync("job-none")).StatusCode);
    }
}
