using System.Diagnostics.Metrics;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Azure.Data.Tables;
using ConvNeXt.Batch.Service.Observability;
using ConvNeXt.Batch.Service.Contracts;
using ConvNeXt.Batch.Service.Queries;
using ConvNeXt.Batch.Service.Services;
using ConvNeXt.Batch.Service.Storage;
using ConvNeXt.Batch.Service.Validation;
using Microsoft.Extensions.DependencyInjection;

namespace ConvNeXt.Batch.Functions.Tests;

[Collection(FunctionsCollection.Name)]
public class ValidationRunTests(FunctionsFixture fixture) : IAsyncLifetime
{
    private static readonly SemaphoreSlim UploadGate = new(1, 1);
    private static bool _uploaded;

    public async Task InitializeAsync()
    {
        await UploadGate.WaitAsync();
        try
        {
            if (_uploaded)
                return;
            var container = fixture.Blobs.GetBlobContainerClient("validation");
            await Parallel.ForEachAsync(Directory.GetFiles(Repository.ImagenetVal100, "*.JPEG"), async (path, ct) =>
                await container.GetBlobClient("val100/" + Path.GetFileName(path)).UploadAsync(path, overwrite: true, ct));
            await container.GetBlobClient("labels/val.txt").UploadAsync(Repository.Data("imagenet-labels", "val.txt"), overwrite: true);
            _uploaded = true;
        }
        finally
        {
            UploadGate.Release();
        }
    }

    public Task DisposeAsync() => Task.CompletedTask;

    [Fact]
    public async Task Fanned_out_chunks_delivered_shuffled_and_duplicated_two_at_a_time_finalize_once_with_the_clean_pass_metrics()
    {
        // 1. POST /api/validation-runs through the host's payload: the run row + chunk messages in Outputs.
        var request = HostPayloads.HttpRequest("POST", "http://localhost:7071/api/validation-runs",
            """{"container":"validation","prefix":"val100/","labels":"labels/val.txt","chunkSize":15}""",
            new Dictionary<string, string> { ["x-functions-key"] = FunctionsFixture.FunctionKey });
        var (status, body) = await fixture.InvokeAsync("CreateValidationRun", request);
        Assert.True(status == 200, body.ToJsonString());
        var res = body["Outputs"]!["res"]!;
        Assert.True(res["statusCode"]!.GetValue<int>() == 201, res.ToJsonString());
        var run = JsonSerializer.Deserialize<ValidationRunSummary>(res["body"]!.GetValue<string>(), ContractJson.Options)!;
        Assert.Equal((100, 7, RunStatus.Running), (run.ExpectedImageCount, run.ChunkCount, run.Status));
        Assert.Equal("squeezenet1.1-fp16", run.ModelId);
        var chunks = body["Outputs"]!["chunks"]!.AsArray().Select(c => c!.GetValue<string>()).ToList();
        Assert.Equal(7, chunks.Count);
        Assert.Equal(100, chunks.Sum(c => JsonSerializer.Deserialize<ValidationChunkMessage>(c)!.Plan.Count));

        // 2. Deliver them back: shuffled, three duplicates, two deliveries at a time. (The race of finalizers is
        //    forced deterministically in ValidationRunFaultTests: the last chunk delivered 20 times at once.)
        var deliveries = chunks.Concat([chunks[0], chunks[6], chunks[3]]).OrderBy(_ => Random.Shared.Next()).ToList();
        var finalizedBy = new List<string>();
        for (var i = 0; i < deliveries.Count; i += 2)
        {
            var pair = deliveries.Skip(i).Take(2).Select(async d =>
            {
                var (s, b) = await fixture.InvokeAsync("ScoreValidationChunk", HostPayloads.ServiceBusSingle(d));
                Assert.True(s == 200, b.ToJsonString());
                return b["ReturnValue"]!.AsArray().Where(o => o!["finalized"]!.GetValue<bool>()).Select(o => o!["runId"]!.GetValue<string>());
            });
            foreach (var finalized in await Task.WhenAll(pair))
                finalizedBy.AddRange(finalized);
        }
        Assert.Equal([run.RunId], finalizedBy);

        var queries = fixture.Services.GetRequiredService<ValidationQueries>();
        var report = (await queries.GetRunAsync(run.RunId))!;
        Assert.Equal(RunStatus.Completed, report.Run.Status);
        Assert.Equal((100, 100, 0, 7), (report.Run.ImageCount!.Value, report.Run.ScoredCount!.Value, report.Run.ErrorCount!.Value, report.ChunksDone));
        // The run and each of its chunks say which execution provider ran the model (no GPU here: the CPU).
        Assert.Equal("cpu", report.Run.ExecutionProvider);
        Assert.All(new Azure.Data.Tables.TableClient(fixture.ConnectionString, TableNames.ValidationChunks)
                .Query<ValidationChunkEntity>(e => e.PartitionKey == run.RunId), c => Assert.Equal("cpu", c.ExecutionProvider));
        Assert.NotNull(report.Run.FinishedAt);
        Assert.InRange(report.Run.Top1!.Value, 0.55, 0.63);
        Assert.InRange(report.Run.Top5!.Value, 0.70, 0.80);
        Assert.Equal(100, report.PerClass.Sum(c => c.Count));

        // 3. A single clean pass (the local path the CLI uses) gives exactly the same metrics.
        var service = fixture.Services.GetRequiredService<ValidationRunService>();
        var clean = await service.RunLocallyAsync(new ValidationRunRequest
            { Container = "validation", Prefix = "val100/", Labels = "labels/val.txt", ChunkSize = 100 });
        Assert.Equal(RunStatus.Completed, clean.Run.Status);
        Assert.Equal((clean.Run.Top1, clean.Run.Top5, clean.Run.ImageCount, clean.Run.MeanConfidence),
            (report.Run.Top1, report.Run.Top5, report.Run.ImageCount, report.Run.MeanConfidence));
        Assert.Equal(clean.PerClass.Select(c => (c.Index, c.Count, c.Top1Correct, c.Top5Correct)), report.PerClass.Select(c => (c.Index, c.Count, c.Top1Correct, c.Top5Correct)));
        Assert.All(clean.PerClass, c => Assert.StartsWith("n", c.Wnid));

        // 4. Exactly one row per image; wrong predictions listed (paged) match the top-1 error count.
        var table = new TableClient(fixture.ConnectionString, TableNames.ValidationPredictions);
        var rows = new List<ValidationPredictionEntity>();
        await foreach (var r in table.QueryAsync<ValidationPredictionEntity>(TableClient.CreateQueryFilter($"PartitionKey eq {run.RunId}")))
            rows.Add(r);
        Assert.Equal(100, rows.Count);
        var wrong = new List<ValidationPredictionRecord>();
        string? token = null;
        do
        {
            var page = await queries.ListWrongAsync(run.RunId, top: 10, continuationToken: token);
            wrong.AddRange(page.Items);
            token = page.ContinuationToken;
        } while (token is not null);
        Assert.Equal(rows.Count(r => !r.Correct1), wrong.Count);
        Assert.Equal(100 - (int)Math.Round(report.Run.Top1!.Value * 100), wrong.Count);
        Assert.All(wrong, w => Assert.NotEqual(w.LabelIndex, w.Top[0].Index));

        // 5. A delivery after completion changes nothing.
        var (s2, b2) = await fixture.InvokeAsync("ScoreValidationChunk", HostPayloads.ServiceBusSingle(chunks[2]));
        Assert.Equal(200, s2);
        Assert.False(b2["ReturnValue"]![0]!["finalized"]!.GetValue<bool>());
        var again = (await queries.GetRunSummaryAsync(run.RunId))!;
        Assert.Equal((report.Run.FinishedAt, report.Run.FinalizedBy), (again.FinishedAt, again.FinalizedBy));
    }

    [Fact]
    public async Task Timer_run_id_is_the_scheduled_occurrence_so_a_refire_after_the_minute_boundary_is_the_same_run()
    {
        var occurrence = new DateTime(2030, 1, 2, 3, 4, 0, DateTimeKind.Utc);
        var (status, body) = await fixture.InvokeAsync("StartValidationRun", HostPayloads.Timer(occurrence.AddMilliseconds(400), occurrence));
        Assert.True(status == 200, body.ToJsonString());
        var first = Chunks(body);
        Assert.Single(first); // 100 images, default chunk size 100
        Assert.Equal("scheduled-20300102T030400Z", first[0].RunId);

        // The host fires the same occurrence again 90 s later (past due after a restart): a different minute
        // on the clock, the same ScheduleStatus. Same run; its one chunk is not done yet, so it is sent again
        // (the first fan-out may have been lost with the failed invocation), and nothing else is.
        (status, body) = await fixture.InvokeAsync("StartValidationRun", HostPayloads.Timer(occurrence.AddSeconds(90), occurrence, isPastDue: true));
        Assert.True(status == 200, body.ToJsonString());
        var again = Chunks(body);
        Assert.Equal([(first[0].RunId, 0)], again.Select(c => (c.RunId, c.ChunkIndex)));
        Assert.Equal(first[0].Plan, again[0].Plan);

        // Once the run completed, a re-fire sends nothing; the next occurrence is a new run.
        var (s, b) = await fixture.InvokeAsync("ScoreValidationChunk", HostPayloads.ServiceBusSingle(JsonSerializer.Serialize(again[0], ContractJson.Options)));
        Assert.True(s == 200 && b["ReturnValue"]![0]!["finalized"]!.GetValue<bool>(), b.ToJsonString());
        (status, body) = await fixture.InvokeAsync("StartValidationRun", HostPayloads.Timer(occurrence.AddMinutes(3), occurrence, isPastDue: true));
        Assert.Equal(200, status);
        Assert.Empty(Chunks(body));
        var runs = new TableClient(fixture.ConnectionString, TableNames.ValidationRuns);
        var rows = new List<ValidationRunEntity>();
        await foreach (var r in runs.QueryAsync<ValidationRunEntity>(TableClient.CreateQueryFilter(
                           $"PartitionKey eq {ValidationRunEntity.PartitionKeyValue} and RowKey ge {"scheduled-20300102"} and RowKey lt {"scheduled-20300103"}")))
            rows.Add(r);
        Assert.Equal([(first[0].RunId, RunStatus.Completed, "timer")], rows.Select(r => (r.RowKey, r.Status, r.Trigger)));

        (status, body) = await fixture.InvokeAsync("StartValidationRun", HostPayloads.Timer(occurrence.AddDays(1).AddSeconds(1), occurrence.AddDays(1)));
        Assert.Equal("scheduled-20300103T030400Z", Assert.Single(Chunks(body)).RunId);
    }

    [Fact]
    public void The_scheduled_occurrence_comes_from_ScheduleStatus_Next_and_falls_back_to_the_minute_without_a_monitor()
    {
        static DateTimeOffset Occurrence(JsonObject payload) =>
            Handler.FunctionInvocations.ScheduledOccurrence(JsonSerializer.Deserialize<Handler.InvocationRequest>(payload.ToJsonString())!);
        var scheduled = new DateTime(2030, 6, 7, 8, 0, 0, DateTimeKind.Utc);
        Assert.Equal(new DateTimeOffset(scheduled), Occurrence(HostPayloads.Timer(scheduled.AddMinutes(7).AddSeconds(13), scheduled, isPastDue: true)));

        // The host's JSON may carry an offset: the same instant gives the same id.
        var withOffset = HostPayloads.Timer(scheduled.AddSeconds(2), scheduled);
        withOffset["Data"]!["timer"]!["ScheduleStatus"]!["Next"] = "2030-06-07T10:00:00+02:00";
        Assert.Equal(new DateTimeOffset(scheduled), Occurrence(withOffset));

        // useMonitor: false gives no ScheduleStatus: the invocation time to the minute.
        var noMonitor = HostPayloads.Timer(scheduled.AddSeconds(41));
        noMonitor["Data"]!["timer"]!.AsObject().Remove("ScheduleStatus");
        Assert.Equal(new DateTimeOffset(scheduled), Occurrence(noMonitor));
    }

    private static List<ValidationChunkMessage> Chunks(JsonNode body) =>
        body["Outputs"]?["chunks"]?.AsArray().Select(c => JsonSerializer.Deserialize<ValidationChunkMessage>(c!.GetValue<string>(), ContractJson.Options)!).ToList() ?? [];

    [Fact]
    public async Task Create_rejects_a_bad_dataset_and_a_missing_key_without_fanning_out()
    {
        var bad = HostPayloads.HttpRequest("POST", "http://localhost/api/validation-runs", """{"container":"validation","prefix":"nothing-here/","labels":"names"}""",
            new Dictionary<string, string> { ["x-functions-key"] = FunctionsFixture.FunctionKey });
        var (status, body) = await fixture.InvokeAsync("CreateValidationRun", bad);
        Assert.Equal(200, status);
        Assert.Equal(400, body["Outputs"]!["res"]!["statusCode"]!.GetValue<int>());
        Assert.Null(body["Outputs"]!["chunks"]);

        var noKey = HostPayloads.HttpRequest("POST", "http://localhost/api/validation-runs", "{}");
        (status, body) = await fixture.InvokeAsync("CreateValidationRun", noKey);
        Assert.Equal(401, body["Outputs"]!["res"]!["statusCode"]!.GetValue<int>());
        Assert.Null(body["Outputs"]!["chunks"]);
    }

    /// <summary>POST /api/validation-runs through the host's payload: (HTTP status, run or error body, chunk messages).</summary>
    internal static async Task<(int Status, JsonNode Body, List<ValidationChunkMessage> Chunks)> CreateAsync(FunctionsFixture fixture, string json)
    {
        var request = HostPayloads.HttpRequest("POST", "http://localhost:7071/api/validation-runs", json,
            new Dictionary<string, string> { ["x-functions-key"] = FunctionsFixture.FunctionKey });
        var (status, body) = await fixture.InvokeAsync("CreateValidationRun", request);
        Assert.True(status == 200, body.ToJsonString());
        var res = body["Outputs"]!["res"]!;
        return (res["statusCode"]!.GetValue<int>(), JsonNode.Parse(res["body"]!.GetValue<string>())!, Chunks(body));
    }

    internal static string Message(ValidationChunkMessage chunk) => JsonSerializer.Serialize(chunk, ContractJson.Options);

    /// <summary>Rows a run has in ValidationPredictions and ValidationChunks.</summary>
    internal static async Task<(int Predictions, int Chunks)> RowCountsAsync(FunctionsFixture fixture, string runId)
    {
        var predictions = 0;
        await foreach (var _ in new TableClient(fixture.ConnectionString, TableNames.ValidationPredictions)
                           .QueryAsync<TableEntity>(TableClient.CreateQueryFilter($"PartitionKey eq {runId}"), select: ["RowKey"]))
            predictions++;
        var chunks = 0;
        await foreach (var _ in new TableClient(fixture.ConnectionString, TableNames.ValidationChunks)
                           .QueryAsync<TableEntity>(TableClient.CreateQueryFilter($"PartitionKey eq {runId}"), select: ["RowKey"]))
            chunks++;
        return (predictions, chunks);
    }

    [Fact]
    public async Task Forged_and_malformed_chunks_are_rejected_before_any_write_and_the_real_chunk_still_completes_the_run()
    {
        var (code, _, chunks) = await CreateAsync(fixture,
            """{"container":"validation","prefix":"val100/","labels":"labels/val.txt","chunkSize":50,"runId":"forged-chunks"}""");
        Assert.Equal((201, 2), (code, chunks.Count));
        var (s0, b0) = await fixture.InvokeAsync("ScoreValidationChunk", HostPayloads.ServiceBusSingle(Message(chunks[0])));
        Assert.True(s0 == 200 && b0["ReturnValue"]![0]!["scored"]!.GetValue<int>() == 50, b0.ToJsonString());

        var real = chunks[1];
        var forged = new (string Why, string Body)[]
        {
            ("chunkIndex -1 is outside", Message(real with { ChunkIndex = -1 })),
            ("chunkCount 3 differs from the run's 2", Message(real with { ChunkIndex = 2, ChunkCount = 3 })),
            ("chunkCount 1 differs from the run's 2", Message(real with { ChunkIndex = 0, ChunkCount = 1 })),
            ("signature does not match", Message(real with { ChunkIndex = 0 })),
            ("container differs", Message(real with { Container = "images" })),
            ("signature does not match", Message(real with { Plan = real.Plan with { Offset = 0 } })),
            ("signature does not match", Message(real with { Plan = real.Plan with { Count = real.Plan.Count - 1 } })),
            ("signature does not match", Message(real with { Plan = real.Plan with { Sha256 = new string('0', 64) } })),
            ("51 items, more than the run's chunk size 50", Message(real with { Plan = real.Plan with { Count = 51 } })),
            ("plan range", Message(real with { Plan = real.Plan with { Length = 0 } })),
            ("plan sha256 is not a SHA-256", Message(real with { Plan = real.Plan with { Sha256 = "../images/x" } })),
            ("signature is missing", Message(real with { Signature = null })),
            ("run does not exist", Message(real with { RunId = "no-such-run" })),
            ("plan is missing", Message(real).Replace("\"plan\":{", "\"plan\":null,\"x\":{")),
            ("not a chunk", "{\"runId\":"),
        };
        var metrics = fixture.Services.GetRequiredService<ScoringMetrics>();
        long rejected = 0;
        using var listener = new MeterListener();
        listener.InstrumentPublished = (instrument, l) =>
        {
            if (ReferenceEquals(instrument, metrics.MessagesRejected))
                l.EnableMeasurementEvents(instrument);
        };
        listener.SetMeasurementEventCallback<long>((_, value, _, _) => Interlocked.Add(ref rejected, value));
        listener.Start();
        foreach (var (why, body) in forged)
        {
            var (status, response) = await fixture.InvokeAsync("ScoreValidationChunk", HostPayloads.ServiceBusSingle(body));
            // Completed (2xx), not retried into the dead-letter queue; nothing scored; the reason is logged.
            Assert.True(status == 200, $"{why}: {response.ToJsonString()}");
            Assert.True(response["ReturnValue"]!.AsArray().Count == 0, $"{why}: {response.ToJsonString()}");
            Assert.True(response["Logs"]!.AsArray().Any(l => l!.GetValue<string>().Contains("completed without scoring") && l.GetValue<string>().Contains(why)),
                $"{why}: {response.ToJsonString()}");
            Assert.DoesNotContain("../images/x", response.ToJsonString());
        }
        Assert.Equal(forged.Length, Interlocked.Read(ref rejected));

        // Nothing counted: one chunk row, 50 image rows, the run still running without totals.
        Assert.Equal((50, 1), await RowCountsAsync(fixture, "forged-chunks"));
        var queries = fixture.Services.GetRequiredService<ValidationQueries>();
        var report = (await queries.GetRunAsync("forged-chunks"))!;
        Assert.Equal((RunStatus.Running, 1, 2, (int?)null), (report.Run.Status, report.ChunksDone, report.ChunksExpected, report.Run.ImageCount));

        var (s1, b1) = await fixture.InvokeAsync("ScoreValidationChunk", HostPayloads.ServiceBusSingle(Message(real)));
        Assert.True(s1 == 200 && b1["ReturnValue"]![0]!["finalized"]!.GetValue<bool>(), b1.ToJsonString());
        report = (await queries.GetRunAsync("forged-chunks"))!;
        Assert.Equal((RunStatus.Completed, 100, 100, 0, 2), (report.Run.Status, report.Run.ImageCount!.Value, report.Run.ScoredCount!.Value,
            report.Run.ErrorCount!.Value, report.ChunksDone));
        Assert.Equal(100, report.PerClass.Sum(c => c.Count));
    }

    [Fact]
    public async Task A_plan_whose_bytes_changed_or_vanished_is_not_believed_and_the_restored_plan_completes_the_run()
    {
        var (code, _, chunks) = await CreateAsync(fixture,
            """{"container":"validation","prefix":"val100/","labels":"labels/val.txt","chunkSize":50,"runId":"tampered-plan"}""");
        Assert.Equal((201, 2), (code, chunks.Count));
        var row = (await new TableClient(fixture.ConnectionString, TableNames.ValidationRuns)
            .GetEntityAsync<ValidationRunEntity>(ValidationRunEntity.PartitionKeyValue, "tampered-plan")).Value;
        Assert.StartsWith("tampered-plan/plan-", row.PlanBlob);
        var plan = fixture.Blobs.GetBlobContainerClient(ContainerNames.ValidationRuns).GetBlobClient(row.PlanBlob);
        var original = (await plan.DownloadContentAsync()).Value.Content.ToArray();
        // The dataset digest covers each plan line and the ETag its blob was listed with, so it is not the plan's own hash.
        Assert.NotEqual(row.DatasetSha256, Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(original)));
        Assert.Equal(100, original.Count(b => b == (byte)'\n'));

        // One label of chunk 1 changed in place, same length: every field of the message still checks out, the bytes do not.
        var text = Encoding.UTF8.GetString(original);
        var at = text.IndexOf("\"label\":", (int)chunks[1].Plan.Offset, StringComparison.Ordinal) + "\"label\":".Length;
        var edited = text[..at] + (text[at] == '9' ? '8' : '9') + text[(at + 1)..];
        await plan.UploadAsync(new BinaryData(Encoding.UTF8.GetBytes(edited)), overwrite: true);
        await AssertRejectedAsync(chunks[1], "not the ones the run signed");

        await plan.DeleteAsync();
        await AssertRejectedAsync(chunks[1], "plan cannot be read at the chunk's range (storage answered 404");
        Assert.Equal((0, 0), await RowCountsAsync(fixture, "tampered-plan"));

        await plan.UploadAsync(new BinaryData(original), overwrite: true);
        foreach (var chunk in chunks)
            Assert.Equal(200, (await fixture.InvokeAsync("ScoreValidationChunk", HostPayloads.ServiceBusSingle(Message(chunk)))).Status);
        var report = (await fixture.Services.GetRequiredService<ValidationQueries>().GetRunAsync("tampered-plan"))!;
        Assert.Equal((RunStatus.Completed, 100, 2), (report.Run.Status, report.Run.ImageCount!.Value, report.ChunksDone));

        async Task AssertRejectedAsync(ValidationChunkMessage chunk, string why)
        {
            var (status, response) = await fixture.InvokeAsync("ScoreValidationChunk", HostPayloads.ServiceBusSingle(Message(chunk)));
            Assert.True(status == 200 && response["ReturnValue"]!.AsArray().Count == 0, response.ToJsonString());
            Assert.True(response["Logs"]!.AsArray().Any(l => l!.GetValue<string>().Contains("completed without scoring") && l.GetValue<string>().Contains(why)),
                $"{why}: {response.ToJsonString()}");
        }
    }

    [Fact]
    public void Items_read_from_a_plan_are_checked_for_names_labels_and_repeats()
    {
        Assert.Null(ChunkRules.ItemsProblem([new LabelledBlob("val/a.JPEG", 0), new LabelledBlob("val/b.JPEG", 999)], 1000));
        Assert.Contains("'.' or '..' path segment", ChunkRules.ItemsProblem([new LabelledBlob("val/a.JPEG", 1), new LabelledBlob("../images/x", 1)], 1000));
        Assert.Equal("item 0: label 1000 is outside the model's 0..999", ChunkRules.ItemsProblem([new LabelledBlob("val/a.JPEG", 1000)], 1000));
        Assert.Equal("item 0: label -1 is outside the model's 0..999", ChunkRules.ItemsProblem([new LabelledBlob("val/a.JPEG", -1)], 1000));
        Assert.Equal("item 1 names a blob a previous item names", ChunkRules.ItemsProblem([new LabelledBlob("val/a.JPEG", 1), new LabelledBlob("val/a.JPEG", 2)], 1000));
        Assert.Equal("item 0 is null", ChunkRules.ItemsProblem([null!], 1000));
    }

    [Fact]
    public async Task A_re_created_run_is_compared_field_by_field_and_sends_only_its_missing_chunks()
    {
        const string Request = """{"container":"validation","prefix":"val100/","labels":"labels/val.txt","chunkSize":50,"runId":"recreated"}""";
        var (code, _, chunks) = await CreateAsync(fixture, Request);
        Assert.Equal((201, 2), (code, chunks.Count));
        Assert.Equal(200, (await fixture.InvokeAsync("ScoreValidationChunk", HostPayloads.ServiceBusSingle(Message(chunks[0])))).Status);

        // The same POST again: 200 (it exists), only chunk 1 goes out, signed like the first time.
        var (again, body, resent) = await CreateAsync(fixture, Request);
        Assert.Equal((200, "recreated", "Running"), (again, body["runId"]!.GetValue<string>(), body["status"]!.GetValue<string>()));
        Assert.Equal([Message(chunks[1])], resent.Select(Message));

        // Any field that differs is a 400 naming it, with nothing sent.
        foreach (var (field, json) in new[]
                 {
                     ("chunk size", """{"container":"validation","prefix":"val100/","labels":"labels/val.txt","chunkSize":40,"runId":"recreated"}"""),
                     ("prefix", """{"container":"validation","prefix":"val100/ILSVRC2012_val_0000000","labels":"labels/val.txt","chunkSize":50,"runId":"recreated"}"""),
                     ("label source", """{"container":"validation","prefix":"val100/","labels":"validation/labels/val.txt","chunkSize":50,"runId":"recreated"}"""),
                 })
        {
            var (status, error, sent) = await CreateAsync(fixture, json);
            Assert.True(status == 400, $"{field}: {error.ToJsonString()}");
            Assert.Contains($"different {field}", error["error"]!.GetValue<string>());
            Assert.Empty(sent);
        }

        Assert.Equal(200, (await fixture.InvokeAsync("ScoreValidationChunk", HostPayloads.ServiceBusSingle(Message(resent[0])))).Status);
        var (done, completed, none) = await CreateAsync(fixture, Request);
        Assert.Equal((200, "Completed"), (done, completed["status"]!.GetValue<string>()));
        Assert.Empty(none);
    }

    [Fact]
    public async Task Create_errors_name_the_problem_and_never_quote_blob_content()
    {
        await fixture.UploadAsync("validation", "labels/secret.txt", "TOP-SECRET-7f3a9 do-not-echo\nILSVRC2012_val_00000001.JPEG 65\n"u8.ToArray());
        var (status, error, chunks) = await CreateAsync(fixture, """{"container":"validation","prefix":"val100/","labels":"labels/secret.txt"}""");
        Assert.Equal(400, status);
        Assert.Empty(chunks);
        var message = error["error"]!.GetValue<string>();
        Assert.Contains("line 1", message);
        Assert.DoesNotContain("TOP-SECRET", message);
        Assert.DoesNotContain("do-not-echo", message);

        (status, error, _) = await CreateAsync(fixture, """{"container":"NO_SUCH!","labels":"names"}""");
        Assert.Equal(400, status);
        Assert.Contains("container name", error["error"]!.GetValue<string>());

        (status, error, _) = await CreateAsync(fixture, """{"container":"validation","prefix":"val100/","labels":"labels/../../other/secret.txt"}""");
        Assert.Equal(400, status);
        Assert.Contains("'..'", error["error"]!.GetValue<string>());
    }

    [Theory]
    [InlineData("validation-runs")]
    [InlineData("models")]
    [InlineData("azure-webjobs-hosts")]
    public async Task A_run_may_read_only_a_dataset_container(string container)
    {
        // Refused before anything is listed: the check is on the name, so the container need not exist.
        var (status, error, chunks) = await CreateAsync(fixture, $$"""{"container":"{{container}}","prefix":"plan/","labels":"names"}""");
        Assert.Equal(400, status);
        Assert.Empty(chunks);
        Assert.Equal($"container '{container}' is not a dataset container (allowed: validation; setting ValidationDefaults__DatasetContainers)",
            error["error"]!.GetValue<string>());
    }
}
