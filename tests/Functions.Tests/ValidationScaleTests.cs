using System.Text;
using System.Text.Json;
using ConvNeXt.Batch.Service.Contracts;
using ConvNeXt.Batch.Service.Queries;
using ConvNeXt.Batch.Service.Services;
using ConvNeXt.Batch.Service.Storage;
using ConvNeXt.Batch.Service.Validation;
using Microsoft.AspNetCore.TestHost;
using Microsoft.Extensions.DependencyInjection;
using static ConvNeXt.Batch.Functions.Tests.ValidationRunTests;

namespace ConvNeXt.Batch.Functions.Tests;

/// <summary>
/// What keeps a run of ImageNet-val size (50,000 images, 500 chunks) workable: a chunk's completion check costs
/// the same whatever the run's size, and chunk messages stay under the Service Bus limit whatever the blob names.
/// The figures at 1k/10k/50k are in docs/benchmarks.md (scripts/scale-bench).
/// </summary>
[Collection(FunctionsCollection.Name)]
public class ValidationScaleTests(FunctionsFixture fixture) : IAsyncLifetime
{
    public Task InitializeAsync() => new ValidationRunTests(fixture).InitializeAsync();

    public Task DisposeAsync() => Task.CompletedTask;

    [Fact]
    public async Task Each_chunk_reads_only_the_run_row_and_the_chunk_rows_are_read_once_by_the_finalizer()
    {
        // The handler's model and reader, over a storage account whose table traffic is counted.
        var traffic = new TableTraffic();
        var account = new StorageAccount(new StorageOptions { ConnectionString = fixture.ConnectionString, ConfigureClients = TableTraffic.Attach(traffic) });
        await using var services = ServiceGraph.For(account, fixture.Services.GetRequiredService<ScoringEngine>());
        var service = services.GetRequiredService<ValidationRunService>();
        await account.EnsureTablesAsync();
        var plan = await service.CreateRunAsync(new ValidationRunRequest
            { Container = "validation", Prefix = "val100/", Labels = "labels/val.txt", ChunkSize = 5, RunId = "constant-reads" }, "local");
        Assert.Equal(20, plan.Chunks.Count);

        var perChunk = new List<TableTrafficSnapshot>();
        var finalized = new List<bool>();
        foreach (var chunk in plan.Chunks)
        {
            var before = traffic.Snapshot();
            finalized.Add((await service.ScoreChunkAsync(chunk, $"chunk-{chunk.ChunkIndex}")).Finalized);
            perChunk.Add(traffic.Snapshot() - before);
        }

        // Every chunk but the last: the run row read twice (checks, then progress) and written once; no query, so
        // nothing that grows with the number of chunks done. (Before: a query of every chunk row, 1 + 2 + … + 20.)
        Assert.Equal([.. Enumerable.Repeat(false, 19), true], finalized);
        Assert.All(perChunk.Take(19), t => Assert.Equal((2L, 0L, 2L), (t.PointReads, t.Queries, t.EntitiesRead)));
        Assert.All(perChunk.Take(19), t => Assert.Equal(3L, t.Writes)); // predictions (one transaction), chunk row, run row
        // The last: the same, plus one query that reads the 20 chunk rows to sum them.
        Assert.Equal((2L, 1L, 22L, 3L), (perChunk[19].PointReads, perChunk[19].Queries, perChunk[19].EntitiesRead, perChunk[19].Writes));

        var report = (await fixture.Services.GetRequiredService<ValidationQueries>().GetRunAsync("constant-reads"))!;
        Assert.Equal((RunStatus.Completed, 100, 20), (report.Run.Status, report.Run.ImageCount, report.ChunksDone));

        // A late completion of a chunk of the completed run changes nothing.
        var start = traffic.Snapshot();
        Assert.Equal((false, true), await service.CompleteChunkAsync("constant-reads", 3, "again"));
        var late = traffic.Snapshot() - start;
        Assert.Equal((1L, 0L), (late.PointReads, late.Writes));
    }

    [Fact]
    public async Task Blob_names_of_1024_characters_keep_chunk_messages_small_and_concurrent_duplicate_deliveries_finalize_once()
    {
        // 120 images whose names are 1,024 characters, mostly 'é', which JSON writes as \u00e9 (6 bytes): inline, 100 such
        // items made a 600 KB message, past Service Bus Standard's 256 KB. Chunks reference the plan, so a message stays
        // a few hundred bytes and the chunk keeps its 100 items.
        const int Images = 120;
        var jpeg = await File.ReadAllBytesAsync(Directory.GetFiles(Repository.ImagenetVal100, "*.JPEG").Order(StringComparer.Ordinal).First());
        var names = Enumerable.Range(0, Images).Select(i =>
        {
            var head = $"long/n01440764_{i:D3}_";
            return head + new string('é', 1024 - head.Length - ".JPEG".Length) + ".JPEG";
        }).ToList();
        Assert.All(names, n => Assert.Equal(1024, n.Length));
        var container = fixture.Blobs.GetBlobContainerClient("validation");
        await Parallel.ForEachAsync(names, async (name, ct) => await container.GetBlobClient(name).UploadAsync(new BinaryData(jpeg), overwrite: true, ct));

        var (status, run, chunks) = await CreateAsync(fixture, """{"container":"validation","prefix":"long/","labels":"names","chunkSize":100,"runId":"long-names"}""");
        Assert.True(status == 201, run.ToJsonString());
        var messages = chunks.Select(Message).ToList();
        Assert.InRange(messages.Max(m => Encoding.UTF8.GetByteCount(m)), 200, 600);
        Assert.Equal([100, 20], chunks.Select(c => c.Plan.Count));
        Assert.Equal(chunks.Count, run["chunkCount"]!.GetValue<int>());
        var storage = fixture.Services.GetRequiredService<StorageAccount>();
        var row = (await storage.Table(TableNames.ValidationRuns).GetEntityAsync<ValidationRunEntity>(ValidationRunEntity.PartitionKeyValue, "long-names")).Value;
        var planned = new List<LabelledBlob>();
        foreach (var chunk in chunks)
            planned.AddRange(await RunPlan.ReadChunkAsync(storage, row.PlanBlob!, chunk.Plan));
        Assert.Equal(names, planned.Select(i => i.Blob));
        Assert.All(chunks, c => Assert.Equal(chunks.Count, c.ChunkCount));

        // Every chunk delivered, two of them twice, four deliveries at once: one finalizer, true totals.
        var deliveries = messages.Concat([messages[0], messages[^1]]).OrderBy(_ => Random.Shared.Next()).ToList();
        var results = new List<JsonElement>();
        await Parallel.ForEachAsync(deliveries, new ParallelOptions { MaxDegreeOfParallelism = 4 }, async (message, _) =>
        {
            var (s, body) = await fixture.InvokeAsync("ScoreValidationChunk", HostPayloads.ServiceBusSingle(message));
            Assert.True(s == 200, body.ToJsonString());
            lock (results)
                results.AddRange(JsonSerializer.Deserialize<JsonElement[]>(body["ReturnValue"]!.ToJsonString())!);
        });
        Assert.Equal(deliveries.Count, results.Count);
        Assert.Equal(1, results.Count(r => r.GetProperty("finalized").GetBoolean()));
        var report = (await fixture.Services.GetRequiredService<ValidationQueries>().GetRunAsync("long-names"))!;
        Assert.Equal((RunStatus.Completed, Images, Images, chunks.Count), (report.Run.Status, report.Run.ImageCount, report.Run.ScoredCount, report.ChunksDone));
        Assert.Equal((Images, chunks.Count), await RowCountsAsync(fixture, "long-names"));
    }

    [Fact]
    public async Task A_run_whose_chunk_messages_pass_the_fan_out_limit_is_refused_before_anything_is_written()
    {
        // val100 in chunks of 2 makes 50 chunk messages, about 16 kB; a handler that allows 5 kB per run refuses it.
        await using var app = await FunctionsFixture.StartHandlerAsync(fixture.ConnectionString, services =>
            services.AddSingleton(new ValidationOptions { MaxFanOutBytes = 5_000 }));
        using var client = app.GetTestClient();
        var request = HostPayloads.HttpRequest("POST", "http://localhost:7071/api/validation-runs",
            """{"container":"validation","prefix":"val100/","labels":"labels/val.txt","chunkSize":2,"runId":"fan-out-limit"}""",
            new Dictionary<string, string> { ["x-functions-key"] = FunctionsFixture.FunctionKey });
        var (status, body) = await FunctionsFixture.InvokeAsync(client, "CreateValidationRun", request);
        Assert.Equal(200, status);
        var res = body["Outputs"]!["res"]!;
        Assert.Equal(400, res["statusCode"]!.GetValue<int>());
        Assert.Contains("50 chunk messages", res["body"]!.GetValue<string>());
        Assert.Contains("Validation__MaxFanOutBytes", res["body"]!.GetValue<string>());
        Assert.Null(body["Outputs"]!["chunks"]);
        Assert.Null(await fixture.Services.GetRequiredService<ValidationQueries>().GetRunSummaryAsync("fan-out-limit"));
        // Its plan's blocks were staged, never committed: no plan blob exists.
        var plans = fixture.Blobs.GetBlobContainerClient(ContainerNames.ValidationRuns);
        var committed = 0;
        await foreach (var _ in plans.GetBlobsAsync(new Azure.Storage.Blobs.Models.GetBlobsOptions { Prefix = "fan-out-limit/" }))
            committed++;
        Assert.Equal(0, committed);

        // The default limit takes it.
        var (created, _, chunks) = await CreateAsync(fixture, """{"container":"validation","prefix":"val100/","labels":"labels/val.txt","chunkSize":2,"runId":"fan-out-default"}""");
        Assert.Equal((201, 50), (created, chunks.Count));
    }

    [Fact]
    public async Task A_run_created_before_the_progress_bitmap_still_completes_once_by_counting_chunk_rows()
    {
        var (_, _, chunks) = await CreateAsync(fixture, """{"container":"validation","prefix":"val100/","labels":"labels/val.txt","chunkSize":50,"runId":"no-bitmap"}""");
        var runs = new Azure.Data.Tables.TableClient(fixture.ConnectionString, TableNames.ValidationRuns);
        var row = (await runs.GetEntityAsync<ValidationRunEntity>(ValidationRunEntity.PartitionKeyValue, "no-bitmap")).Value;
        Assert.Single(row.ChunksDone!);
        row.ChunksDone = null;
        await runs.UpdateEntityAsync(row, row.ETag, Azure.Data.Tables.TableUpdateMode.Replace);

        var outcomes = new List<bool>();
        foreach (var message in chunks.Append(chunks[0]).Select(Message))
        {
            var (s, body) = await fixture.InvokeAsync("ScoreValidationChunk", HostPayloads.ServiceBusSingle(message));
            Assert.True(s == 200, body.ToJsonString());
            outcomes.Add(body["ReturnValue"]![0]!["finalized"]!.GetValue<bool>());
        }
        Assert.Equal([false, true, false], outcomes);
        var report = (await fixture.Services.GetRequiredService<ValidationQueries>().GetRunAsync("no-bitmap"))!;
        Assert.Equal((RunStatus.Completed, 100, 2), (report.Run.Status, report.Run.ImageCount, report.ChunksDone));
    }

    [Fact]
    public async Task Chunk_rows_are_summed_across_query_pages_each_chunk_once_and_only_the_runs_chunks()
    {
        // 2,500 chunk rows (three query pages of at most 1,000), one image each: label i % 1000, top-1 right for even i.
        var table = new Azure.Data.Tables.TableClient(fixture.ConnectionString, TableNames.ValidationChunks);
        await table.CreateIfNotExistsAsync();
        var start = DateTimeOffset.UtcNow.AddHours(-1);
        var rows = Enumerable.Range(0, 2500).Select(i =>
        {
            var counts = new Scoring.Evaluation.AccuracyCounts();
            counts.Add(i % 1000, [new Scoring.Inference.ClassScore(i % 2 == 0 ? i % 1000 : (i + 1) % 1000, null, null, 0.5f)]);
            return new ValidationChunkEntity
            {
                PartitionKey = "many-chunks", RowKey = TableKeys.ChunkKey(i), ChunkIndex = i, ImageCount = 1, ScoredCount = 1,
                CountsJson = counts.ToJson(), ScoredAt = start.AddSeconds(i),
            };
        }).ToList();
        foreach (var batch in rows.Chunk(100))
            await table.SubmitTransactionAsync(batch.Select(r => new Azure.Data.Tables.TableTransactionAction(Azure.Data.Tables.TableTransactionActionType.UpsertReplace, r)));

        var traffic = new TableTraffic();
        var account = new StorageAccount(new StorageOptions { ConnectionString = fixture.ConnectionString, ConfigureClients = TableTraffic.Attach(traffic) });
        var sum = await ChunkRowSum.ReadAsync(account, "many-chunks", 2400);
        Assert.Equal((3L, 2500L), (traffic.Queries, traffic.EntitiesRead));
        // Rows 2,400 and up are not the run's chunks: not counted, and the last counted row gives the last progress.
        Assert.Equal((2400, true, 2400L, 2400L, 0L), (sum.Done, sum.Complete, sum.Images, sum.Scored, sum.Errors));
        Assert.Equal((2400L, 1200L), (sum.Counts.Images, sum.Counts.Top1Correct));
        Assert.Equal(start.AddSeconds(2399), sum.LastScoredAt);
        Assert.True(sum.IsDone(2399));
        Assert.False(sum.IsDone(2400));

        var partial = await ChunkRowSum.ReadAsync(account, "many-chunks", 2600);
        Assert.Equal((2500, false, false), (partial.Done, partial.Complete, partial.IsDone(2550)));

        // Without counts (the stall sweep, a re-created run): the same chunks and progress, no counts summed.
        var progress = await ChunkRowSum.ReadAsync(account, "many-chunks", 2400, withCounts: false);
        Assert.Equal((2400, 2400L, 0L), (progress.Done, progress.Images, progress.Counts.Images));
        Assert.Equal(start.AddSeconds(2399), progress.LastScoredAt);
    }

    [Fact]
    public void The_chunk_progress_bitmap_counts_only_the_runs_chunks()
    {
        var bits = ChunkProgress.Empty(11);
        Assert.Equal(2, bits.Length);
        foreach (var i in new[] { 0, 7, 8, 10, 7 })
            bits = ChunkProgress.With(bits, i);
        Assert.Equal(4, ChunkProgress.Count(bits, 11));
        Assert.Equal([0, 7, 8, 10], ChunkProgress.Indexes(bits, 11));
        Assert.Equal(2, ChunkProgress.Count(bits, 8)); // bits past the chunk count are not counted
        Assert.False(ChunkProgress.Contains(bits, 9));
    }
}
