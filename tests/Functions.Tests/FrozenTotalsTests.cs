using System.Security.Cryptography;
using System.Text.Json;
using Azure;
using Azure.Core;
using Azure.Core.Pipeline;
using Azure.Data.Tables;
using Azure.Storage.Blobs;
using ConvNeXt.Batch.Scoring.Evaluation;
using ConvNeXt.Batch.Scoring.Labels;
using ConvNeXt.Batch.Service.Contracts;
using ConvNeXt.Batch.Service.Queries;
using ConvNeXt.Batch.Service.Services;
using ConvNeXt.Batch.Service.Storage;
using ConvNeXt.Batch.Service.Validation;
using Microsoft.Extensions.DependencyInjection;

namespace ConvNeXt.Batch.Functions.Tests;

/// <summary>
/// A completed run's totals are frozen in one blob at finalization, so reading it costs its row and that blob, not
/// every chunk row (at 50,000 images, 501 entities per GET); a blob that is gone or not the one recorded is not believed.
/// </summary>
[Collection(FunctionsCollection.Name)]
public class FrozenTotalsTests(FunctionsFixture fixture) : IAsyncLifetime
{
    public Task InitializeAsync() => new ValidationRunTests(fixture).InitializeAsync();

    public Task DisposeAsync() => Task.CompletedTask;

    /// <summary>The handler's model over a storage account whose table traffic is counted and whose totals blob can be made to fail.</summary>
    private sealed class Harness
    {
        public readonly TableTraffic Traffic = new();
        public readonly FailTotalsBlob Fault = new();
        public readonly StorageAccount Account;
        public readonly ValidationRunService Service;
        public readonly ValidationQueries Queries;

        public Harness(FunctionsFixture fixture)
        {
            var countTables = TableTraffic.Attach(Traffic);
            Account = new StorageAccount(new StorageOptions
            {
                ConnectionString = fixture.ConnectionString,
                Resilience = new StorageResilienceOptions { MaxRetryAttempts = 2, BaseDelay = TimeSpan.FromMilliseconds(1), MaxDelay = TimeSpan.FromMilliseconds(5) },
                ConfigureClients = options =>
                {
                    countTables(options);
                    if (options is BlobClientOptions)
                        options.AddPolicy(Fault, HttpPipelinePosition.PerRetry);
                },
            });
            var services = ServiceGraph.For(Account, fixture.Services.GetRequiredService<ScoringEngine>());
            Service = services.GetRequiredService<ValidationRunService>();
            Queries = services.GetRequiredService<ValidationQueries>();
        }

        public async Task<ValidationRunPlan> CreateAsync(string runId, int chunkSize)
        {
            await Account.EnsureTablesAsync();
            return await Service.CreateRunAsync(new ValidationRunRequest
                { Container = "validation", Prefix = "val100/", Labels = "labels/val.txt", ChunkSize = chunkSize, RunId = runId }, "local");
        }

        public async Task<ValidationRunPlan> CompleteAsync(string runId, int chunkSize)
        {
            var plan = await CreateAsync(runId, chunkSize);
            foreach (var chunk in plan.Chunks)
                await Service.ScoreChunkAsync(chunk, $"chunk-{chunk.ChunkIndex}");
            return plan;
        }

        /// <summary>The report and the table traffic of reading it.</summary>
        public async Task<(ValidationRunReport Report, TableTrafficSnapshot Traffic)> GetAsync(string runId, ClassLabels? labels = null)
        {
            var before = Traffic.Snapshot();
            var report = (await Queries.GetRunAsync(runId, labels))!;
            return (report, Traffic.Snapshot() - before);
        }
    }

    /// <summary>Answers 503 to requests for a totals blob while <see cref="Method"/> is set (PUT: writes, GET: reads).</summary>
    private sealed class FailTotalsBlob : HttpPipelinePolicy
    {
        public volatile string? Method;
        public int Failed;

        public override void Process(HttpMessage message, ReadOnlyMemory<HttpPipelinePolicy> pipeline)
        {
            Check(message);
            ProcessNext(message, pipeline);
        }

        public override ValueTask ProcessAsync(HttpMessage message, ReadOnlyMemory<HttpPipelinePolicy> pipeline)
        {
            Check(message);
            return ProcessNextAsync(message, pipeline);
        }

        private void Check(HttpMessage message)
        {
            if (Method is { } method && message.Request.Method.Method == method && message.Request.Uri.Path.EndsWith("/totals.json", StringComparison.Ordinal))
            {
                Interlocked.Increment(ref Failed);
                throw new RequestFailedException(503, "injected: totals blob unavailable");
            }
        }
    }

    private static TableClient Runs(FunctionsFixture fixture) => new(fixture.ConnectionString, TableNames.ValidationRuns);

    private static async Task<ValidationRunEntity> RowAsync(FunctionsFixture fixture, string runId) =>
        (await Runs(fixture).GetEntityAsync<ValidationRunEntity>(ValidationRunEntity.PartitionKeyValue, runId)).Value;

    private BlobClient TotalsBlob(string runId) => fixture.Blobs.GetBlobContainerClient(ContainerNames.ValidationRuns).GetBlobClient($"{runId}/totals.json");

    private static async Task<List<ValidationChunkEntity>> ChunkRowsAsync(FunctionsFixture fixture, string runId)
    {
        var rows = new List<ValidationChunkEntity>();
        await foreach (var row in new TableClient(fixture.ConnectionString, TableNames.ValidationChunks)
                           .QueryAsync<ValidationChunkEntity>(TableClient.CreateQueryFilter($"PartitionKey eq {runId}")))
            rows.Add(row);
        return rows;
    }

    /// <summary>The whole report as the API sends it: every field, per class, confused pairs, calibration, comparison.</summary>
    private static string Json(ValidationRunReport report) => JsonSerializer.Serialize(report, ContractJson.Options);

    [Fact]
    public async Task A_completed_run_is_read_from_its_row_and_frozen_totals_alone_and_reports_what_its_chunk_rows_sum_to()
    {
        var h = new Harness(fixture);
        await h.CompleteAsync("frozen-read", chunkSize: 10);
        var labels = await fixture.Services.GetRequiredService<ScoringEngine>().GetLabelsAsync();

        var (frozen, traffic) = await h.GetAsync("frozen-read", labels);
        // One entity, the run row, whatever the number of chunks; no query of the chunk rows, no stall-check write.
        Assert.Equal((1L, 0L, 1L, 0L), (traffic.PointReads, traffic.Queries, traffic.EntitiesRead, traffic.Writes));
        Assert.Equal((RunStatus.Completed, 10, 10, 0), (frozen.Run.Status, frozen.ChunksDone, frozen.ChunksExpected, frozen.ChunksFailed));
        Assert.Equal(100, frozen.PerClass.Sum(c => c.Count));
        Assert.Equal(100, frozen.Calibration!.Sum(b => b.Images));
        Assert.NotEmpty(frozen.MostConfused);
        Assert.All(frozen.PerClass, c => Assert.StartsWith("n", c.Wnid));

        // The same run as a run completed before totals were frozen: read by summing its 10 chunk rows.
        var row = await RowAsync(fixture, "frozen-read");
        (row.TotalsBlob, row.TotalsSha256) = (null, null);
        await Runs(fixture).UpdateEntityAsync(row, row.ETag, TableUpdateMode.Replace);
        var (summed, summedTraffic) = await h.GetAsync("frozen-read", labels);
        Assert.Equal((1L, 11L), (summedTraffic.Queries, summedTraffic.EntitiesRead));
        Assert.Equal(Json(summed), Json(frozen));
        Assert.Equal((summed.Run.Top1, summed.Run.Top5), (frozen.Run.Top1, frozen.Run.Top5));
    }

    [Fact]
    public async Task The_totals_blob_holds_the_sum_of_the_chunk_rows_under_the_sha256_recorded_on_the_run_row()
    {
        var h = new Harness(fixture);
        await h.CompleteAsync("frozen-blob", chunkSize: 30);

        var row = await RowAsync(fixture, "frozen-blob");
        Assert.Equal((RunStatus.Completed, "frozen-blob/totals.json"), (row.Status, row.TotalsBlob));
        var bytes = (await TotalsBlob("frozen-blob").DownloadContentAsync()).Value.Content;
        Assert.Equal(Convert.ToHexStringLower(SHA256.HashData(bytes.ToArray())), row.TotalsSha256);
        // Deterministic: the canonical JSON of the chunk rows' sum, byte for byte, so a second finalizer writes the same blob.
        var chunks = await ChunkRowsAsync(fixture, "frozen-blob");
        Assert.Equal(4, chunks.Count);
        Assert.Equal(AccuracyCounts.Sum(chunks.OrderByDescending(c => c.ChunkIndex).Select(c => AccuracyCounts.FromJson(c.CountsJson))).ToJson(), bytes.ToString());
        var counts = AccuracyCounts.FromJson(bytes.ToString());
        Assert.Equal((100L, (double)row.Top1!, (double)row.Top5!), (counts.Images + counts.Errors, counts.Top1, counts.Top5));
    }

    [Fact]
    public async Task A_tampered_or_missing_totals_blob_is_not_believed_and_the_chunk_rows_give_the_true_totals()
    {
        var h = new Harness(fixture);
        await h.CompleteAsync("frozen-tampered", chunkSize: 25);
        var (truth, traffic) = await h.GetAsync("frozen-tampered");
        Assert.Equal((0L, 1L), (traffic.Queries, traffic.EntitiesRead)); // read from the frozen blob
        var row = await RowAsync(fixture, "frozen-tampered");
        Assert.Equal("frozen-tampered/totals.json", row.TotalsBlob);

        // Overwritten with other, well-formed counts (one chunk's): the digest on the row no longer matches.
        var oneChunk = (await ChunkRowsAsync(fixture, "frozen-tampered")).First().CountsJson;
        Assert.Equal(25, RunTotals.FromJson(oneChunk).PerClass.Sum(c => c.Count));
        await TotalsBlob("frozen-tampered").UploadAsync(BinaryData.FromString(oneChunk), overwrite: true);
        var (tampered, tamperedTraffic) = await h.GetAsync("frozen-tampered");
        Assert.Equal((1L, 5L), (tamperedTraffic.Queries, tamperedTraffic.EntitiesRead)); // the run row and its 4 chunk rows
        Assert.Equal(Json(truth), Json(tampered));
        Assert.Equal(100, tampered.PerClass.Sum(c => c.Count));

        // Deleted: the same.
        await TotalsBlob("frozen-tampered").DeleteAsync();
        var (missing, missingTraffic) = await h.GetAsync("frozen-tampered");
        Assert.Equal(1L, missingTraffic.Queries);
        Assert.Equal(Json(truth), Json(missing));
    }

    [Fact]
    public async Task A_running_run_reports_progress_from_its_chunk_rows_until_its_last_chunk_freezes_the_totals()
    {
        var h = new Harness(fixture);
        var plan = await h.CreateAsync("frozen-progress", chunkSize: 25);
        Assert.Equal(4, plan.Chunks.Count);
        foreach (var chunk in plan.Chunks.Take(2))
            await h.Service.ScoreChunkAsync(chunk, "first-half");

        var (running, traffic) = await h.GetAsync("frozen-progress");
        Assert.Equal((RunStatus.Running, 2, 4, 50), (running.Run.Status, running.ChunksDone, running.ChunksExpected, running.PerClass.Sum(c => c.Count)));
        Assert.Equal((1L, 3L), (traffic.Queries, traffic.EntitiesRead)); // the run row and the 2 chunk rows so far
        Assert.Null((await RowAsync(fixture, "frozen-progress")).TotalsBlob);
        Assert.False(await TotalsBlob("frozen-progress").ExistsAsync());

        foreach (var chunk in plan.Chunks.Skip(2))
            await h.Service.ScoreChunkAsync(chunk, "second-half");
        var (completed, completedTraffic) = await h.GetAsync("frozen-progress");
        Assert.Equal((RunStatus.Completed, 4, 100), (completed.Run.Status, completed.ChunksDone, completed.PerClass.Sum(c => c.Count)));
        Assert.Equal((0L, 1L), (completedTraffic.Queries, completedTraffic.EntitiesRead));
    }

    [Fact]
    public async Task A_storage_outage_on_the_totals_blob_fails_the_finalizing_delivery_and_the_read_and_nothing_completes_without_it()
    {
        var h = new Harness(fixture);
        var plan = await h.CreateAsync("frozen-outage", chunkSize: 50);
        await h.Service.ScoreChunkAsync(plan.Chunks[0], "first");

        // Writing the totals fails through every retry: the delivery fails (transient, so it is redelivered) and the
        // run row is not marked completed.
        h.Fault.Method = "PUT";
        var e = await Assert.ThrowsAnyAsync<Exception>(() => h.Service.ScoreChunkAsync(plan.Chunks[1], "outage"));
        Assert.True(StorageFailures.IsTransient(e), e.ToString());
        Assert.Equal(3, h.Fault.Failed); // the first attempt and 2 retries
        var row = await RowAsync(fixture, "frozen-outage");
        Assert.Equal((RunStatus.Running, (string?)null, (int?)null), (row.Status, row.TotalsBlob, row.ImageCount));

        // The redelivery completes it, with its totals frozen.
        h.Fault.Method = null;
        Assert.True((await h.Service.ScoreChunkAsync(plan.Chunks[1], "redelivered")).Finalized);
        row = await RowAsync(fixture, "frozen-outage");
        Assert.Equal((RunStatus.Completed, "frozen-outage/totals.json", 100), (row.Status, row.TotalsBlob, row.ImageCount));

        // Reading the frozen totals during an outage fails like any storage outage (503), rather than quietly
        // summing the chunk rows instead.
        h.Fault.Method = "GET";
        e = await Assert.ThrowsAnyAsync<Exception>(() => h.Queries.GetRunAsync("frozen-outage"));
        Assert.True(StorageFailures.IsTransient(e), e.ToString());
        h.Fault.Method = null;
        Assert.Equal(100, (await h.GetAsync("frozen-outage")).Report.PerClass.Sum(c => c.Count));
    }
}
