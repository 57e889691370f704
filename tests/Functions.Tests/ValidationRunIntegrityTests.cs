using ConvNeXt.Batch.Service.Composition;
using Microsoft.Extensions.Configuration;
using System.Text.RegularExpressions;
using Azure;
using Azure.Core;
using Azure.Core.Pipeline;
using Azure.Data.Tables;
using Azure.Storage;
using Azure.Storage.Sas;
using ConvNeXt.Batch.Scoring.Labels;
using ConvNeXt.Batch.Service.Contracts;
using ConvNeXt.Batch.Service.Queries;
using ConvNeXt.Batch.Service.Services;
using ConvNeXt.Batch.Service.Storage;
using ConvNeXt.Batch.Service.Validation;
using Microsoft.Extensions.DependencyInjection;
using static ConvNeXt.Batch.Functions.Tests.ValidationRunTests;

namespace ConvNeXt.Batch.Functions.Tests;

/// <summary>
/// Validation runs against careless and hostile conditions: runs that would never end, faults that are not the image's,
/// reads that must not write, run ids that are path segments, damaged signing keys, and what a run's identity covers.
/// </summary>
[Collection(FunctionsCollection.Name)]
public class ValidationRunIntegrityTests(FunctionsFixture fixture) : IAsyncLifetime
{
    private const string Prefix = "integrity/";
    private static readonly string[] Images = ["ILSVRC2012_val_00000001.JPEG", "ILSVRC2012_val_00000006.JPEG", "ILSVRC2012_val_00000007.JPEG"];

    public async Task InitializeAsync()
    {
        await new ValidationRunTests(fixture).InitializeAsync();
        foreach (var name in Images)
            await fixture.Blobs.GetBlobContainerClient("validation").GetBlobClient(Prefix + name)
                .UploadAsync(Path.Combine(Repository.ImagenetVal100, name), overwrite: true);
    }

    public Task DisposeAsync() => Task.CompletedTask;

    // The provider is left to the collector: it owns nothing here but what the services made (the engine is the fixture's instance).
    private ValidationRunService Service(StorageAccount account, TimeSpan? stallTimeout = null) =>
        ServiceGraph.For(account, fixture.Services.GetRequiredService<ScoringEngine>(), new Dictionary<string, string?>
        {
            ["Scoring:BatchSize"] = "8",
            ["Scoring:DecodeWorkers"] = "2",
            ["Validation:StallTimeout"] = (stallTimeout ?? TimeSpan.FromHours(1)).ToString("c", System.Globalization.CultureInfo.InvariantCulture),
        }).GetRequiredService<ValidationRunService>();

    /// <summary>The fixture's account with <paramref name="policy"/> in its clients' pipelines.</summary>
    private StorageAccount Account(HttpPipelinePolicy? policy = null) => new(new StorageOptions
    {
        ConnectionString = fixture.ConnectionString,
        ConfigureClients = policy is null ? null : o => o.AddPolicy(policy, HttpPipelinePosition.BeforeTransport),
    });

    private static ValidationRunRequest Request(string runId, int chunkSize = 2) =>
        new() { RunId = runId, Container = "validation", Prefix = Prefix, Labels = "labels/val.txt", ChunkSize = chunkSize };

    private async Task<ValidationRunEntity> RowAsync(string runId) =>
        (await new TableClient(fixture.ConnectionString, TableNames.ValidationRuns).GetEntityAsync<ValidationRunEntity>(ValidationRunEntity.PartitionKeyValue, runId)).Value;

    [Fact]
    public async Task A_run_whose_chunk_rows_are_all_in_but_never_recorded_is_finalized_by_the_sweep_or_failed_with_the_reason()
    {
        // Storage refuses the totals blob (a 403): the last chunk writes its row, then fails on every delivery.
        var refused = Account(new RefuseRequests(r => r.Uri.Path.EndsWith("/totals.json", StringComparison.Ordinal)));
        foreach (var runId in new[] { "never-recorded", "never-finalizable" })
        {
            var plan = await Service(refused).CreateRunAsync(Request(runId), "test");
            Assert.Equal(2, plan.Chunks.Count);
            Assert.False((await Service(refused).ScoreChunkAsync(plan.Chunks[0])).Finalized);
            var e = await Assert.ThrowsAsync<RequestFailedException>(() => Service(refused).ScoreChunkAsync(plan.Chunks[1]));
            Assert.Equal(403, e.Status);
            Assert.Equal((3, 2), await RowCountsAsync(fixture, runId));
            Assert.Equal(RunStatus.Running, (await RowAsync(runId)).Status);
        }
        await Task.Delay(TimeSpan.FromSeconds(1.5));

        // One sweep: where storage still refuses the blob the run ends Failed, with the reason; where it can write it, the
        // run ends Completed, with the totals of every chunk row.
        var stillRefused = Account(new RefuseRequests(r => r.Uri.Path.EndsWith("/never-finalizable/totals.json", StringComparison.Ordinal)));
        var lines = await Service(stillRefused, TimeSpan.FromSeconds(1)).Finalizer.SweepAsync();
        Assert.Contains(lines, l => l.StartsWith("run never-finalizable marked Failed: every chunk is in but the run could not be finalized", StringComparison.Ordinal));
        var failed = await RowAsync("never-finalizable");
        Assert.Equal(RunStatus.Failed, failed.Status);
        Assert.Contains("403", failed.FailureReason);
        Assert.Contains("run never-recorded finalized: every chunk was in but not recorded on the run", lines);
        var completed = await RowAsync("never-recorded");
        Assert.Equal((RunStatus.Completed, 3, 3, ValidationRunFinalizer.SweepFinalizer), (completed.Status, completed.ImageCount, completed.ScoredCount, completed.FinalizedBy));
        Assert.Equal(2, ChunkProgress.Count(completed.ChunksDone!, 2));
        var report = (await fixture.Services.GetRequiredService<ValidationQueries>().GetRunAsync("never-recorded"))!;
        Assert.Equal((RunStatus.Completed, 2, 3), (report.Run.Status, report.ChunksDone, report.PerClass.Sum(c => (int)c.Count)));
    }

    [Fact]
    public async Task A_refused_image_read_fails_the_delivery_writes_nothing_and_the_redelivery_counts_no_error()
    {
        // 403 on one image (roles still propagating): not a property of the image, so no ReadFailed row is counted.
        var refused = Account(new RefuseRequests(r => r.Method == RequestMethod.Get && r.Uri.Path.EndsWith(Prefix + Images[1], StringComparison.Ordinal)));
        var plan = await Service(Account()).CreateRunAsync(Request("refused-read", chunkSize: 3), "test");
        var e = await Assert.ThrowsAsync<StorageUnavailableException>(() => Service(refused).ScoreChunkAsync(Assert.Single(plan.Chunks)));
        Assert.Contains("storage refused a read", e.Message);
        Assert.Equal((0, 0), await RowCountsAsync(fixture, "refused-read"));

        var outcome = await Service(Account()).ScoreChunkAsync(plan.Chunks[0]);
        Assert.Equal((3, 0, true), (outcome.Scored, outcome.Failed, outcome.Finalized));
        Assert.Equal((RunStatus.Completed, 0), ((await RowAsync("refused-read")).Status, (await RowAsync("refused-read")).ErrorCount));
    }

    [Fact]
    public async Task A_refused_plan_read_is_transient_and_the_redelivery_completes_the_run()
    {
        var refused = Account(new RefuseRequests(r => r.Method == RequestMethod.Get && r.Uri.Path.Contains("/refused-plan/plan-", StringComparison.Ordinal)));
        var plan = await Service(Account()).CreateRunAsync(Request("refused-plan", chunkSize: 3), "test");
        var e = await Assert.ThrowsAsync<StorageUnavailableException>(() => Service(refused).ScoreChunkAsync(Assert.Single(plan.Chunks)));
        Assert.Contains("plan cannot be read now (storage answered 403", e.Message);
        Assert.Equal((RunStatus.Running, (string?)null), ((await RowAsync("refused-plan")).Status, (await RowAsync("refused-plan")).FailedChunks));
        Assert.True((await Service(Account()).ScoreChunkAsync(plan.Chunks[0])).Finalized);
    }

    [Fact]
    public async Task A_read_only_identity_reads_runs_and_reports_and_nothing_is_written()
    {
        var plan = await Service(Account()).CreateRunAsync(Request("read-only", chunkSize: 3), "test");
        await Service(Account()).ScoreChunkAsync(plan.Chunks[0]);

        var readOnly = new StorageAccount(new StorageOptions { ConnectionString = fixture.ReadOnlyConnectionString() });
        // The identity really is read-only: storage refuses it a table.
        var refused = await Assert.ThrowsAsync<RequestFailedException>(() => readOnly.Table("ReadOnlyProbe").CreateIfNotExistsAsync());
        Assert.Equal(403, refused.Status);

        using var services = ServiceGraph.For(readOnly, fixture.Services.GetRequiredService<ScoringEngine>());
        var queries = services.GetRequiredService<ValidationQueries>();
        var report = (await queries.GetRunAsync("read-only"))!;
        Assert.Equal((RunStatus.Completed, 3, 1), (report.Run.Status, report.Run.ImageCount, report.ChunksDone));
        Assert.Contains((await queries.ListRunsAsync(top: 1000)).Items, r => r.RunId == "read-only");
        Assert.Equal(3, (await queries.ListPredictionsAsync("read-only")).Items.Count);
        Assert.Null(await queries.GetRunAsync("no-such-run"));
    }

    [Theory]
    [InlineData("..")]
    [InlineData(".")]
    public async Task Run_ids_that_are_path_segments_are_rejected(string runId)
    {
        Assert.Equal("a run id cannot be '.' or '..'", RunIds.Problem(runId));
        Assert.Null(RunIds.Problem("..a"));
        var (status, body, chunks) = await CreateAsync(fixture,
            $$"""{"container":"validation","prefix":"{{Prefix}}","labels":"labels/val.txt","runId":"{{runId}}"}""");
        Assert.Equal((400, 0), (status, chunks.Count));
        Assert.Equal("a run id cannot be '.' or '..'", body["error"]!.GetValue<string>());
        var message = new ValidationChunkMessage
        {
            RunId = runId, ChunkIndex = 0, ChunkCount = 1, Container = "validation", Plan = new ChunkRange(0, 10, 1, new string('a', 64)), Signature = "x",
        };
        Assert.Equal("runId is missing or not a run id", ChunkRules.Problem(message));
    }

    [Theory]
    [InlineData("", "is empty")]
    [InlineData("not base64!", "is not base64")]
    [InlineData("c2hvcnQ=", "has 5 bytes, fewer than 32")]
    public async Task A_run_whose_signing_key_is_damaged_fails_with_the_reason_and_scores_nothing(string key, string problem)
    {
        Assert.Equal(problem, ChunkRules.KeyProblem(key));
        Assert.Null(ChunkRules.KeyProblem(ChunkRules.NewKey()));
        var runId = "bad-key-" + problem.Split(' ')[^1].Trim('!');
        var plan = await Service(Account()).CreateRunAsync(Request(runId, chunkSize: 3), "test");
        var runs = new TableClient(fixture.ConnectionString, TableNames.ValidationRuns);
        var row = await RowAsync(runId);
        row.ChunkSigningKey = key;
        await runs.UpdateEntityAsync(row, row.ETag, TableUpdateMode.Replace);

        // A message signed under the damaged key (under an empty key anybody can sign) is not scored, and is not a 500.
        var forged = key == "" ? ChunkRules.Sign(plan.Chunks[0] with { Signature = null }, "") : plan.Chunks[0];
        var (status, body) = await fixture.InvokeAsync("ScoreValidationChunk", HostPayloads.ServiceBusSingle(Message(forged)));
        Assert.True(status == 200, body.ToJsonString());
        Assert.Contains(body["Logs"]!.AsArray(), l => l!.GetValue<string>().Contains($"chunk signing key {problem}"));
        Assert.Equal((0, 0), await RowCountsAsync(fixture, runId));
        row = await RowAsync(runId);
        Assert.Equal((RunStatus.Failed, $"the run's chunk signing key {problem}: none of its chunks can be verified"), (row.Status, row.FailureReason));

        // Creating it again says why it cannot be used.
        var again = await Assert.ThrowsAsync<DatasetException>(() => Service(Account()).CreateRunAsync(Request(runId, chunkSize: 3), "test"));
        Assert.Contains($"chunk signing key (the existing run's key {problem}", again.Message);
    }

    [Fact]
    public async Task A_runs_identity_covers_the_label_table_and_the_dataset_digest_covers_each_images_version()
    {
        var plan = await Service(Account()).CreateRunAsync(Request("provenance", chunkSize: 3), "test");
        var labels = await fixture.Services.GetRequiredService<ScoringEngine>().GetLabelsAsync();
        Assert.Equal(ClassLabels.Load(Repository.LabelsFile).Sha256, labels.Sha256);
        var row = await RowAsync("provenance");
        Assert.Equal(labels.Sha256, row.LabelsSha256);
        Assert.Equal(labels.Sha256, plan.Run.LabelsSha256);

        // The same request again is the same run, also after the same bytes are uploaded again (the digest covers the
        // content MD5, not the ETag); after one image is rewritten with other bytes (same name, same label) it is not.
        Assert.False((await Service(Account()).CreateRunAsync(Request("provenance", chunkSize: 3), "test")).Created);
        var rewritten = fixture.Blobs.GetBlobContainerClient("validation").GetBlobClient(Prefix + Images[2]);
        await rewritten.UploadAsync(Path.Combine(Repository.ImagenetVal100, Images[2]), overwrite: true);
        Assert.False((await Service(Account()).CreateRunAsync(Request("provenance", chunkSize: 3), "test")).Created);
        await rewritten.UploadAsync(Path.Combine(Repository.ImagenetVal100, Images[1]), overwrite: true);
        var changed = await Assert.ThrowsAsync<DatasetException>(() => Service(Account()).CreateRunAsync(Request("provenance", chunkSize: 3), "test"));
        Assert.Contains("different dataset (images or labels changed)", changed.Message);

        // A worker whose label table differs from the run's (same weights) does not count the chunk: the run fails, saying why.
        row.LabelsSha256 = new string('0', 64);
        await new TableClient(fixture.ConnectionString, TableNames.ValidationRuns).UpdateEntityAsync(row, row.ETag, TableUpdateMode.Replace);
        var e = await Assert.ThrowsAsync<InvalidChunkException>(() => Service(Account()).ScoreChunkAsync(plan.Chunks[0]));
        Assert.Contains("label table sha256", e.Message);
        Assert.Equal((0, 0), await RowCountsAsync(fixture, "provenance"));
        Assert.Equal(RunStatus.Failed, (await RowAsync("provenance")).Status);
    }

    [Fact]
    public async Task A_decode_timeout_in_a_validation_chunk_fails_the_delivery_and_writes_nothing_until_a_redelivery_scores_it()
    {
        var plan = await Service(Account()).CreateRunAsync(Request("decode-timeout", chunkSize: 3), "test");
        // A worker under contention, as a 1 ms decode budget makes every image: a timeout is not a fact about the image.
        var settings = FunctionsFixture.Settings(fixture.ConnectionString);
        settings["Scoring:DecodeTimeoutMilliseconds"] = "1";
        await using var slow = new ServiceCollection().AddConvNeXtBatch(new ConfigurationBuilder().AddInMemoryCollection(settings).Build())
            .BuildServiceProvider();
        var e = await Assert.ThrowsAsync<InferenceUnavailableException>(() => slow.GetRequiredService<ValidationRunService>().ScoreChunkAsync(plan.Chunks[0]));
        Assert.Contains("decoding took longer than 1 ms", e.Message);
        Assert.Equal((0, 0), await RowCountsAsync(fixture, "decode-timeout"));

        // The redelivery, on a worker with its normal budget, scores every image of the chunk once.
        var outcome = await Service(Account()).ScoreChunkAsync(plan.Chunks[0]);
        Assert.Equal((3, 0), (outcome.Scored, outcome.Failed));
        Assert.Equal((3, 1), await RowCountsAsync(fixture, "decode-timeout"));
    }


    /// <summary>Makes storage (Azurite itself) answer 403 to the requests <paramref name="refuse"/> picks, by spoiling their signature.</summary>
    private sealed class RefuseRequests(Func<Request, bool> refuse) : HttpPipelinePolicy
    {
        public override async ValueTask ProcessAsync(HttpMessage message, ReadOnlyMemory<HttpPipelinePolicy> pipeline)
        {
            if (refuse(message.Request) && message.Request.Headers.TryGetValue("Authorization", out var auth))
                message.Request.Headers.SetValue("Authorization", auth[..(auth.IndexOf(':') + 1)] + Convert.ToBase64String(new byte[32]));
            await ProcessNextAsync(message, pipeline);
            if (refuse(message.Request) && message.Response.Status != 403)
                throw new InvalidOperationException($"expected a 403 for {message.Request.Uri}, got {message.Response.Status}");
        }

        public override void Process(HttpMessage message, ReadOnlyMemory<HttpPipelinePolicy> pipeline) =>
            ProcessAsync(message, pipeline).AsTask().GetAwaiter().GetResult();
    }
}
