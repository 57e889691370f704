using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Azure.Data.Tables;
using ConvNeXt.Batch.Service.Contracts;
using ConvNeXt.Batch.Service.Queries;
using ConvNeXt.Batch.Service.Services;
using ConvNeXt.Batch.Service.Storage;
using Microsoft.Extensions.DependencyInjection;

namespace ConvNeXt.Batch.Functions.Tests;

[Collection(FunctionsCollection.Name)]
public class QueryApiTests(FunctionsFixture fixture) : IAsyncLifetime
{
    private const string Container = "hostile";

    public static readonly string[] HostileNames =
    [
        "a'b.jpg", "q\"uote.jpg", "dir/sub/x.jpg", "dir/y.jpg", "hash#1.jpg", "what?.jpg", "100%.jpg", "100%25.jpg",
        "ünïcødé/猫.jpg", "emoji🐈.jpg", "back\\slash.jpg", "x' or PartitionKey ne '", "sp ace.jpg", "dir",
    ];

    public async Task InitializeAsync()
    {
        var table = new TableClient(fixture.ConnectionString, TableNames.Predictions);
        await table.CreateIfNotExistsAsync();
        var rows = HostileNames.Select(n => Row(Container, n))
            .Concat(Enumerable.Range(0, 25).Select(i => Row("paging", $"p/{i:D3}.jpg", i % 3 == 0 ? RowStatus.Failed : RowStatus.Scored)))
            .Append(Row("secret", "x' or PartitionKey ne '"));
        foreach (var row in rows)
            await table.UpsertEntityAsync(row, TableUpdateMode.Replace);
    }

    public Task DisposeAsync() => Task.CompletedTask;

    private static PredictionEntity Row(string container, string name, string status = RowStatus.Scored) => new()
    {
        PartitionKey = container,
        RowKey = TableKeys.Escape(name),
        BlobName = name,
        Status = status,
        ErrorReason = status == RowStatus.Failed ? "Undecodable" : null,
        Top1Index = 1,
        Top1Wnid = "n01443537",
        TopJson = PredictedClass.ToJson([new PredictedClass(1, "n01443537", "goldfish", 0.9)]),
        ScoredAt = DateTimeOffset.UnixEpoch,
    };

    private async Task<HttpResponseMessage> GetAsync(string pathAndQuery, bool withKey = true)
    {
        var request = new HttpRequestMessage(HttpMethod.Get, pathAndQuery);
        if (withKey)
            request.Headers.Add("x-functions-key", FunctionsFixture.FunctionKey);
        return await fixture.Client.SendAsync(request);
    }

    private async Task<ResultPage<PredictionRecord>> ListAsync(string query)
    {
        var response = await GetAsync("/api/predictions?" + query);
        Assert.True(response.IsSuccessStatusCode, await response.Content.ReadAsStringAsync());
        return (await response.Content.ReadFromJsonAsync<ResultPage<PredictionRecord>>(ContractJson.Options))!;
    }

    private static string Q(string value) => Uri.EscapeDataString(value);

    [Fact]
    public async Task A_row_under_a_names_key_but_for_another_name_is_not_answered()
    {
        // A row written before the key mapping was injective: its key is A's, its BlobName is B's.
        var table = new TableClient(fixture.ConnectionString, TableNames.Predictions);
        var row = Row(Container, "collide/b.jpg");
        row.RowKey = TableKeys.Escape("collide/a.jpg");
        await table.UpsertEntityAsync(row, TableUpdateMode.Replace);

        Assert.Equal(HttpStatusCode.NotFound, (await GetAsync($"/api/predictions?container={Container}&blob={Q("collide/a.jpg")}")).StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, (await GetAsync($"/api/predictions/{Container}/collide/a.jpg")).StatusCode);
    }

    [Fact]
    public async Task Every_hostile_name_is_found_by_its_own_path()
    {
        foreach (var name in HostileNames)
        {
            var path = string.Join('/', name.Split('/').Select(Uri.EscapeDataString));
            var response = await GetAsync($"/api/predictions/{Container}/{path}");
            Assert.True(response.StatusCode == HttpStatusCode.OK, $"{name}: {response.StatusCode}");
            var record = (await response.Content.ReadFromJsonAsync<PredictionRecord>(ContractJson.Options))!;
            Assert.Equal((Container, name), (record.Container, record.Blob));
        }
        Assert.Equal(HttpStatusCode.NotFound, (await GetAsync($"/api/predictions/{Container}/nope.jpg")).StatusCode);
    }

    [Fact]
    public async Task Prefixes_select_exactly_the_names_that_start_with_them_and_never_inject()
    {
        foreach (var prefix in new[] { "dir/", "dir", "100%", "x' or PartitionKey ne '", "x'", "'", "ünïcødé/", "a'b", "q\"" })
        {
            var page = await ListAsync($"container={Container}&prefix={Q(prefix)}&top=1000");
            var expected = HostileNames.Where(n => n.StartsWith(prefix, StringComparison.Ordinal)).Order(StringComparer.Ordinal);
            Assert.Equal(expected, page.Items.Select(i => i.Blob).Order(StringComparer.Ordinal));
            Assert.All(page.Items, i => Assert.Equal(Container, i.Container));
        }
        // A hostile container value is a value too: it matches no partition rather than all of them.
        Assert.Empty((await ListAsync($"container={Q("hostile' or PartitionKey ne '")}")).Items);
        Assert.Empty((await ListAsync($"container={Container}&wnid={Q("x' or Status ne '")}")).Items);
    }

    [Fact]
    public async Task Pages_follow_continuation_tokens_without_gaps_or_repeats()
    {
        var seen = new List<string>();
        string? token = null;
        var pages = 0;
        do
        {
            var page = await ListAsync($"container=paging&top=10" + (token is null ? "" : "&continuationToken=" + Q(token)));
            Assert.True(page.Items.Count <= 10);
            seen.AddRange(page.Items.Select(i => i.Blob));
            token = page.ContinuationToken;
            pages++;
        } while (token is not null);
        Assert.Equal(3, pages);
        Assert.Equal(Enumerable.Range(0, 25).Select(i => $"p/{i:D3}.jpg"), seen);

        var failed = await ListAsync("container=paging&status=Failed&top=1000");
        Assert.Equal(9, failed.Items.Count);
        Assert.All(failed.Items, i => Assert.Equal("Undecodable", i.ErrorReason));

        // Across partitions (no container filter) paging still visits each row once.
        var all = new List<(string, string)>();
        token = null;
        do
        {
            var page = await ListAsync("top=7" + (token is null ? "" : "&continuationToken=" + Q(token)));
            all.AddRange(page.Items.Select(i => (i.Container, i.Blob)));
            token = page.ContinuationToken;
        } while (token is not null);
        Assert.Equal(all.Count, all.Distinct().Count());
        Assert.Equal(25, all.Count(a => a.Item1 == "paging"));
    }

    [Fact]
    public async Task Bad_arguments_are_400()
    {
        Assert.Equal(HttpStatusCode.BadRequest, (await GetAsync("/api/predictions?container=paging&continuationToken=garbage!!")).StatusCode);
        Assert.Equal(HttpStatusCode.BadRequest, (await GetAsync("/api/predictions?container=paging&top=0")).StatusCode);
        Assert.Equal(HttpStatusCode.BadRequest, (await GetAsync("/api/predictions?container=paging&top=abc")).StatusCode);
        Assert.Equal(HttpStatusCode.BadRequest, (await GetAsync("/api/predictions?prefix=x")).StatusCode);
        Assert.Equal(HttpStatusCode.BadRequest, (await GetAsync("/api/predictions?container=paging&status=Bogus")).StatusCode);
    }

    [Fact]
    public async Task Missing_or_wrong_key_is_rejected_and_the_code_query_works()
    {
        foreach (var path in new[] { "/api/predictions?container=paging", $"/api/predictions/{Container}/dir", "/api/validation-runs", "/api/validation-runs/x" })
        {
            Assert.Equal(HttpStatusCode.Unauthorized, (await GetAsync(path, withKey: false)).StatusCode);
            var wrong = new HttpRequestMessage(HttpMethod.Get, path);
            wrong.Headers.Add("x-functions-key", "not-the-key");
            Assert.Equal(HttpStatusCode.Unauthorized, (await fixture.Client.SendAsync(wrong)).StatusCode);
        }
        var withCode = await GetAsync($"/api/predictions?container=paging&code={FunctionsFixture.FunctionKey}", withKey: false);
        Assert.Equal(HttpStatusCode.OK, withCode.StatusCode);
    }

    [Fact]
    public async Task Health_answers_anonymous_callers_the_status_alone_and_the_model_with_a_key()
    {
        var anonymous = await GetAsync("/api/health", withKey: false);
        Assert.Equal(HttpStatusCode.OK, anonymous.StatusCode);
        var summary = JsonDocument.Parse(await anonymous.Content.ReadAsStringAsync()).RootElement;
        Assert.Equal(["status"], summary.EnumerateObject().Select(p => p.Name));
        Assert.Equal("Healthy", summary.GetProperty("status").GetString());
        Assert.Equal(HttpStatusCode.Unauthorized, (await GetAsync("/api/health/details", withKey: false)).StatusCode);

        var response = await GetAsync("/api/health/details", withKey: true);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var health = JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement;
        Assert.True(health.GetProperty("modelLoaded").GetBoolean());
        Assert.Equal("squeezenet1.1-fp16", health.GetProperty("modelId").GetString());
        Assert.Equal(await Scoring.FileSha256.ComputeAsync(Repository.SqueezeNet), health.GetProperty("sha256").GetString());
        Assert.Contains("cpu", health.GetProperty("executionProvider").GetString()!, StringComparison.OrdinalIgnoreCase);
    }

    [Fact]
    public async Task Validation_run_endpoints_report_the_run_as_its_image_rows_measure_it()
    {
        Assert.Equal(HttpStatusCode.NotFound, (await GetAsync("/api/validation-runs/no-such-run")).StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, (await GetAsync("/api/validation-runs/no-such-run?wrong=true")).StatusCode);

        await new ValidationRunTests(fixture).InitializeAsync();
        var service = fixture.Services.GetRequiredService<ValidationRunService>();
        var local = await service.RunLocallyAsync(new ValidationRunRequest
            { Container = "validation", Prefix = "val100/", Labels = "labels/val.txt", ChunkSize = 25, RunId = "query-api-run" });
        Assert.Equal(RunStatus.Completed, local.Run.Status);

        // The report over HTTP.
        var response = await GetAsync("/api/validation-runs/query-api-run");
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var report = (await response.Content.ReadFromJsonAsync<ValidationRunReport>(ContractJson.Options))!;

        // What the per-image rows say, counted here independently of the run's totals.
        var rows = new List<ValidationPredictionEntity>();
        await foreach (var r in new TableClient(fixture.ConnectionString, TableNames.ValidationPredictions)
                           .QueryAsync<ValidationPredictionEntity>(TableClient.CreateQueryFilter($"PartitionKey eq {"query-api-run"}")))
            rows.Add(r);
        var scored = rows.Where(r => r.Status == RowStatus.Scored).ToList();
        Assert.Equal(100, rows.Count);
        Assert.Equal((RunStatus.Completed, 100, scored.Count, rows.Count - scored.Count), (report.Run.Status, report.Run.ImageCount, report.Run.ScoredCount, report.Run.ErrorCount));
        Assert.Equal((double)scored.Count(r => r.Correct1) / scored.Count, report.Run.Top1!.Value, 9);
        Assert.Equal((double)scored.Count(r => r.Correct5) / scored.Count, report.Run.Top5!.Value, 9);
        Assert.Equal(scored.Average(r => r.Top1Probability!.Value), report.Run.MeanConfidence!.Value, 5);
        Assert.Equal((4, 4, 0), (report.ChunksDone, report.ChunksExpected, report.ChunksFailed));
        Assert.Equal(rows.GroupBy(r => r.LabelIndex).OrderBy(g => g.Key).Select(g => (g.Key, (long)g.Count(), (long)g.Count(r => r.Correct1))),
            report.PerClass.Select(c => (c.Index, c.Count, c.Top1Correct)));
        Assert.All(report.PerClass, c => Assert.StartsWith("n", c.Wnid)); // named by the loaded model's labels
        Assert.Equal((local.Run.Top1, local.Run.Top5, local.Run.FinishedAt), (report.Run.Top1, report.Run.Top5, report.Run.FinishedAt));

        // The list shows the same run and totals; the wrong-predictions listing pages through exactly the top-1 misses.
        var list = await GetAsync("/api/validation-runs?top=1000");
        var runs = (await list.Content.ReadFromJsonAsync<ResultPage<ValidationRunSummary>>(ContractJson.Options))!;
        var listed = Assert.Single(runs.Items, r => r.RunId == "query-api-run");
        Assert.Equal((report.Run.Top1, report.Run.ImageCount), (listed.Top1, listed.ImageCount));
        var wrong = new List<string>();
        string? token = null;
        do
        {
            var page = (await (await GetAsync("/api/validation-runs/query-api-run?wrong=true&top=7" + (token is null ? "" : "&continuationToken=" + Q(token))))
                .Content.ReadFromJsonAsync<ResultPage<ValidationPredictionRecord>>(ContractJson.Options))!;
            wrong.AddRange(page.Items.Select(i => i.Blob));
            token = page.ContinuationToken;
        } while (token is not null);
        Assert.Equal(rows.Where(r => !r.Correct1).Select(r => r.BlobName).Order(StringComparer.Ordinal), wrong.Order(StringComparer.Ordinal));
    }
}
