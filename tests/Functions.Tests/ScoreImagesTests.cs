using System.Text.Json.Nodes;
using Microsoft.Extensions.Configuration;
using Microsoft.AspNetCore.TestHost;
using Azure.Data.Tables;
using Microsoft.Extensions.DependencyInjection;
using ConvNeXt.Batch.Service.Storage;

namespace ConvNeXt.Batch.Functions.Tests;

[Collection(FunctionsCollection.Name)]
public class ScoreImagesTests(FunctionsFixture fixture)
{
    private static readonly string[] Samples = Directory.GetFiles(Repository.ImagenetSamples, "*.JPEG")
        .OrderBy(p => p, StringComparer.Ordinal).Where((_, i) => i % 50 == 7).Take(20).ToArray();

    private sealed record Uploaded(string Name, string ETag, long Length, Uri Uri, string? ExpectedWnid);

    private async Task<List<Uploaded>> UploadSetAsync(string folder)
    {
        var list = new List<Uploaded>();
        foreach (var path in Samples)
        {
            var bytes = await File.ReadAllBytesAsync(path);
            var name = $"{folder}/{Path.GetFileName(path)}";
            var info = await fixture.UploadAsync("images", name, bytes);
            list.Add(new Uploaded(name, info.ETag.ToString(), bytes.Length, Uri(name), Path.GetFileName(path).Split('_')[0]));
        }
        var jpeg = await File.ReadAllBytesAsync(Samples[0]);
        var broken = new Dictionary<string, byte[]>
        {
            [$"{folder}/broken/empty.jpg"] = [],
            [$"{folder}/broken/random.jpg"] = RandomBytes(5000),
            [$"{folder}/broken/truncated.jpg"] = jpeg[..(jpeg.Length / 3)],
        };
        foreach (var (name, bytes) in broken)
        {
            var info = await fixture.UploadAsync("images", name, bytes);
            list.Add(new Uploaded(name, info.ETag.ToString(), bytes.Length, Uri(name), null));
        }
        return list;
    }

    private Uri Uri(string name) => fixture.Blobs.GetBlobContainerClient("images").GetBlobClient(name).Uri;

    private static byte[] RandomBytes(int n)
    {
        var b = new byte[n];
        new Random(42).NextBytes(b);
        return b;
    }

    private async Task<List<PredictionEntity>> RowsAsync(string folder)
    {
        var table = new TableClient(fixture.ConnectionString, TableNames.Predictions);
        var low = TableKeys.Escape(folder + "/");
        var rows = new List<PredictionEntity>();
        await foreach (var r in table.QueryAsync<PredictionEntity>(TableClient.CreateQueryFilter(
            $"PartitionKey eq {"images"} and RowKey ge {low} and RowKey lt {TableKeys.PrefixUpperBound(low)}")))
            rows.Add(r);
        return rows;
    }

    [Theory]
    [InlineData("eventgrid")]
    [InlineData("cloudevents")]
    public async Task Batched_invocation_writes_one_row_per_image_and_redelivery_changes_nothing(string schema)
    {
        var uploaded = await UploadSetAsync(schema);
        var bodies = uploaded.Select(u => schema == "eventgrid"
            ? HostPayloads.EventGridBlobCreated(u.Uri, "images", u.Name, u.ETag, u.Length)
            : HostPayloads.CloudEventBlobCreated(u.Uri, "images", u.Name, u.ETag, u.Length)).ToList();
        // Plus a message that is not a BlobCreated event, one for another container, and garbage: completed, not scored.
        bodies.Add("""{"eventType":"Microsoft.Storage.BlobDeleted","subject":"/blobServices/default/containers/images/blobs/x.jpg","data":{}}""");
        bodies.Add(HostPayloads.EventGridBlobCreated(Uri("elsewhere.jpg"), "other", "elsewhere.jpg", "0x1", 1));
        bodies.Add("{{{ not json");

        var (status, body) = await fixture.InvokeAsync("ScoreImages", HostPayloads.ServiceBusBatch(bodies));
        Assert.True(status == 200, body.ToJsonString());
        var logs = body["Logs"]!.AsArray().Select(l => l!.GetValue<string>()).ToList();
        Assert.Equal(3, logs.Count(l => l.Contains("completed without scoring")));

        var rows = await RowsAsync(schema);
        Assert.Equal(uploaded.Count, rows.Count);
        Assert.Equal(uploaded.Select(u => u.Name).Order(StringComparer.Ordinal), rows.Select(r => r.BlobName).Order(StringComparer.Ordinal));

        var good = uploaded.Where(u => u.ExpectedWnid is not null).ToList();
        var correct = 0;
        foreach (var u in good)
        {
            var row = rows.Single(r => r.BlobName == u.Name);
            Assert.Equal(RowStatus.Scored, row.Status);
            Assert.Equal(u.ETag.Trim('"'), row.BlobETag!.Trim('"'));
            Assert.Equal("squeezenet1.1-fp16", row.ModelId);
            Assert.Equal(64, row.ModelSha256!.Length);
            Assert.Equal(5, ConvNeXt.Batch.Service.Contracts.PredictedClass.FromJson(row.TopJson).Count);
            Assert.Equal(row.Top1Index, ConvNeXt.Batch.Service.Contracts.PredictedClass.FromJson(row.TopJson)[0].Index);
            if (row.Top1Wnid == u.ExpectedWnid)
                correct++;
        }
        Assert.True(correct >= good.Count * 0.4, $"only {correct}/{good.Count} top-1 correct");

        foreach (var name in new[] { "empty.jpg", "random.jpg", "truncated.jpg" })
        {
            var row = rows.Single(r => r.BlobName.EndsWith("broken/" + name, StringComparison.Ordinal));
            Assert.Equal(RowStatus.Failed, row.Status);
            Assert.False(string.IsNullOrEmpty(row.ErrorReason));
            Assert.Null(row.Top1Index);
        }
        Assert.Equal("Empty", rows.Single(r => r.BlobName.EndsWith("empty.jpg", StringComparison.Ordinal)).ErrorReason);

        // Redelivery of the same batch (delivery count 2): the rows stay exactly as they were.
        var before = rows.ToDictionary(r => r.RowKey, r => (r.ETag, r.ScoredAt, r.TopJson, r.Status));
        var again = HostPayloads.ServiceBusBatch(bodies, deliveryCount: 2);
        (status, body) = await fixture.InvokeAsync("ScoreImages", again);
        Assert.True(status == 200, body.ToJsonString());
        var after = (await RowsAsync(schema)).ToDictionary(r => r.RowKey, r => (r.ETag, r.ScoredAt, r.TopJson, r.Status));
        Assert.Equal(before, after);
    }

    [Fact]
    public async Task A_reupload_is_scored_again_and_replaces_its_row()
    {
        var name = "reupload/cat.jpg";
        var first = await File.ReadAllBytesAsync(Samples[3]);
        var info1 = await fixture.UploadAsync("images", name, first);
        var (status, _) = await fixture.InvokeAsync("ScoreImages",
            HostPayloads.ServiceBusBatch([HostPayloads.EventGridBlobCreated(Uri(name), "images", name, info1.ETag.ToString(), first.Length)]));
        Assert.Equal(200, status);
        var row1 = Assert.Single(await RowsAsync("reupload"));

        var second = await File.ReadAllBytesAsync(Samples[10]);
        var info2 = await fixture.UploadAsync("images", name, second);
        (status, _) = await fixture.InvokeAsync("ScoreImages",
            HostPayloads.ServiceBusBatch([HostPayloads.CloudEventBlobCreated(Uri(name), "images", name, info2.ETag.ToString(), second.Length)]));
        Assert.Equal(200, status);
        var row2 = Assert.Single(await RowsAsync("reupload"));
        Assert.NotEqual(row1.BlobETag, row2.BlobETag);
        Assert.Equal(info2.ETag.ToString().Trim('"'), row2.BlobETag!.Trim('"'));
        Assert.NotEqual(row1.Top1Wnid, row2.Top1Wnid);
    }

    [Fact]
    public async Task A_deleted_blob_becomes_an_error_row()
    {
        var name = "deleted/gone.jpg";
        var (status, body) = await fixture.InvokeAsync("ScoreImages",
            HostPayloads.ServiceBusBatch([HostPayloads.EventGridBlobCreated(Uri(name), "images", name, "0x8D0000", 100)]));
        Assert.True(status == 200, body.ToJsonString());
        var row = Assert.Single(await RowsAsync("deleted"));
        Assert.Equal((RowStatus.Failed, "BlobNotFound"), (row.Status, row.ErrorReason));
    }

    [Fact]
    public async Task Oversized_blobs_become_TooLarge_rows_without_being_read()
    {
        var bytes = await File.ReadAllBytesAsync(Samples[1]);
        await fixture.UploadAsync("images", "large/declared.jpg", bytes);
        await fixture.UploadAsync("images", "large/undeclared.jpg", bytes);
        var engine = fixture.Services.GetRequiredService<ConvNeXt.Batch.Service.Services.ScoringEngine>();
        // Count the GET requests the storage clients send (a download is a GET on the blob).
        var downloads = new System.Collections.Concurrent.ConcurrentBag<string>();
        using var observer = new RequestObserver(r => { if (r.Method == "GET") downloads.Add(r.Path); });
        await using var services = ServiceGraph.For(new StorageAccount(new StorageOptions { ConnectionString = fixture.ConnectionString }), engine,
            new Dictionary<string, string?> { ["Scoring:MaxBlobBytes"] = "1000" });
        var service = services.GetRequiredService<ConvNeXt.Batch.Service.Services.BlobScoringService>();
        var result = await service.ScoreAsync([
            new("images", "large/declared.jpg", ContentLength: bytes.Length),
            new("images", "large/undeclared.jpg", ContentLength: 10), // the event understates it: the download headers catch it
        ]);
        Assert.All(result.Outcomes, o => Assert.Equal((RowStatus.Failed, "TooLarge"), (o.Status, o.ErrorReason)));
        var rows = await RowsAsync("large");
        Assert.Equal(2, rows.Count(r => r.ErrorReason == "TooLarge"));
        // "Without being read": the declared one is never requested; the understated one is refused from
        // its headers, so no body is read and the row keeps the event's ETag rather than the download's.
        Assert.Equal(0, downloads.Count(u => u.EndsWith("large/declared.jpg", StringComparison.Ordinal)));
        Assert.Equal(1, downloads.Count(u => u.EndsWith("large/undeclared.jpg", StringComparison.Ordinal)));
    }

    [Fact]
    public async Task Batch_byte_budget_caps_each_image_at_its_share_so_a_full_batch_fits_the_lock()
    {
        var small = await File.ReadAllBytesAsync(Samples[2]);
        var large = new byte[small.Length * 3];
        small.CopyTo(large, 0);
        await fixture.UploadAsync("images", "budget/small.jpg", small);
        await fixture.UploadAsync("images", "budget/large.jpg", large);
        var engine = fixture.Services.GetRequiredService<ConvNeXt.Batch.Service.Services.ScoringEngine>();
        // 32 messages share the budget: each image may have 1/32 of it, between the two sizes.
        using var services = ServiceGraph.For(new StorageAccount(new StorageOptions { ConnectionString = fixture.ConnectionString }), engine,
            new Dictionary<string, string?>
            {
                ["Scoring:MaxBatchBytes"] = (32L * small.Length * 2).ToString(System.Globalization.CultureInfo.InvariantCulture),
                ["Scoring:MaxBatchMessages"] = "32",
            });
        var options = services.GetRequiredService<ConvNeXt.Batch.Service.Services.ScoringOptions>();
        Assert.Equal(small.Length * 2, options.EffectiveMaxBlobBytes);
        Assert.True(options.EffectiveMaxBlobBytes * options.MaxBatchMessages <= options.MaxBatchBytes);
        var service = services.GetRequiredService<ConvNeXt.Batch.Service.Services.BlobScoringService>();
        var result = await service.ScoreAsync([
            new("images", "budget/small.jpg", ContentLength: small.Length),
            new("images", "budget/large.jpg", ContentLength: large.Length),
        ]);
        var outcomes = result.Outcomes.ToDictionary(o => o.Name, o => (o.Status, o.ErrorReason));
        Assert.Equal((RowStatus.Scored, (string?)null), outcomes["budget/small.jpg"]);
        Assert.Equal((RowStatus.Failed, "TooLarge"), outcomes["budget/large.jpg"]);
        var row = (await RowsAsync("budget")).Single(r => r.ErrorReason == "TooLarge");
        Assert.Contains($"more than the {small.Length * 2} allowed (Scoring__MaxBatchBytes {32L * small.Length * 2} shared by 32 messages)", row.ErrorMessage);
        // Without a budget the per-blob limit alone applies.
        Assert.Equal(64L * 1024 * 1024, new ConvNeXt.Batch.Service.Services.ScoringOptions().EffectiveMaxBlobBytes);
    }

    [Fact]
    public async Task Metrics_count_scored_images_batch_sizes_and_queue_lag()
    {
        var measurements = new System.Collections.Concurrent.ConcurrentDictionary<string, double>();
        using var listener = new System.Diagnostics.Metrics.MeterListener();
        listener.InstrumentPublished = (instrument, l) =>
        {
            if (instrument.Meter.Name == ConvNeXt.Batch.Service.Observability.ScoringMetrics.MeterName)
                l.EnableMeasurementEvents(instrument);
        };
        listener.SetMeasurementEventCallback<long>((i, v, _, _) => measurements.AddOrUpdate(i.Name, v, (_, old) => old + v));
        listener.SetMeasurementEventCallback<int>((i, v, _, _) => measurements.AddOrUpdate(i.Name, v, (_, old) => old + v));
        listener.SetMeasurementEventCallback<double>((i, v, _, _) => measurements.AddOrUpdate(i.Name, v, (_, old) => Math.Max(old, v)));
        listener.Start();

        var name = "metrics/a.jpg";
        var bytes = await File.ReadAllBytesAsync(Samples[2]);
        var info = await fixture.UploadAsync("images", name, bytes);
        var (status, _) = await fixture.InvokeAsync("ScoreImages",
            HostPayloads.ServiceBusBatch([HostPayloads.EventGridBlobCreated(Uri(name), "images", name, info.ETag.ToString(), bytes.Length), "garbage"]));
        Assert.Equal(200, status);
        Assert.True(measurements.GetValueOrDefault("convnext.images.scored") >= 1);
        Assert.Equal(RowStatus.Scored, Assert.Single(await RowsAsync("metrics")).Status);
        Assert.True(measurements.GetValueOrDefault("convnext.messages.rejected") >= 1);
        Assert.True(measurements.GetValueOrDefault("convnext.batch.size") >= 1);
        Assert.True(measurements.GetValueOrDefault("convnext.queue.lag") >= 2000, "enqueued 3 s before the invocation");
        Assert.True(measurements.ContainsKey("convnext.batch.duration"));
    }

    [Fact]
    public async Task An_invocation_with_no_usable_message_completes()
    {
        var (status, body) = await fixture.InvokeAsync("ScoreImages", HostPayloads.ServiceBusBatch(["[]", "null", "\"just a string\""]));
        Assert.True(status == 200, body.ToJsonString());
        var logs = body["Logs"]!.AsArray().Select(l => l!.GetValue<string>()).ToList();
        Assert.Contains(logs, l => l.Contains("3 message(s), 0 blob event(s)"));
        Assert.Equal(2, logs.Count(l => l.Contains("completed without scoring"))); // "[]" holds no event at all
    }

    [Fact]
    public async Task Hostile_and_malformed_events_are_rejected_alone_and_the_rest_of_the_batch_is_scored()
    {
        var name = "hostile/good.jpg";
        var bytes = await File.ReadAllBytesAsync(Samples[4]);
        var info = await fixture.UploadAsync("images", name, bytes);
        await fixture.UploadAsync("other", "secret.jpg", bytes);
        string Event(string subject, JsonNode? url = null, JsonNode? length = null) => new JsonObject
        {
            ["eventType"] = "Microsoft.Storage.BlobCreated", ["id"] = Guid.NewGuid().ToString(), ["subject"] = subject, ["dataVersion"] = "",
            ["data"] = new JsonObject { ["url"] = url ?? Uri(name).ToString(), ["eTag"] = "0x1", ["contentLength"] = length ?? 10 },
        }.ToJsonString();
        var bodies = new List<string>
        {
            Event("/blobServices/default/containers/images/blobs/../other/secret.jpg"),
            Event("no subject", url: Uri("x").ToString().Replace("/x", "/..%2Fother%2Fsecret.jpg")),
            Event("/blobServices/default/containers/images/blobs/a//b.jpg"),
            Event("/blobServices/default/containers/images/blobs/" + new string('a', 1025)),
            Event("/blobServices/default/containers/NO_SUCH!/blobs/x.jpg"),
            Event("/blobServices/default/containers/images/blobs/hostile/url.jpg", url: "not a url"),
            Event("/blobServices/default/containers/images/blobs/hostile/len.jpg", length: JsonNode.Parse("1e30")),
            HostPayloads.EventGridBlobCreated(Uri(name), "images", name, info.ETag.ToString(), bytes.Length),
        };
        var (status, body) = await fixture.InvokeAsync("ScoreImages", HostPayloads.ServiceBusBatch(bodies));
        Assert.True(status == 200, body.ToJsonString());
        var logs = body["Logs"]!.AsArray().Select(l => l!.GetValue<string>()).ToList();
        Assert.Equal(7, logs.Count(l => l.Contains("completed without scoring")));
        Assert.Contains(logs, l => l.Contains("'.' or '..' path segment"));
        Assert.Contains(logs, l => l.Contains("empty path segment"));
        Assert.Contains(logs, l => l.Contains("over the limit of 1024"));
        Assert.Contains(logs, l => l.Contains("data.url is not an absolute URL"));
        Assert.Contains(logs, l => l.Contains("data.contentLength is not a byte count"));
        Assert.Equal(1, body["ReturnValue"]!["scored"]!.GetValue<long>());

        var row = Assert.Single(await RowsAsync("hostile"));
        Assert.Equal((name, RowStatus.Scored), (row.BlobName, row.Status));
        var table = new TableClient(fixture.ConnectionString, TableNames.Predictions);
        Assert.False((await table.GetEntityIfExistsAsync<PredictionEntity>("images", TableKeys.Escape("../other/secret.jpg"))).HasValue);
        Assert.False((await table.GetEntityIfExistsAsync<PredictionEntity>("other", TableKeys.Escape("secret.jpg"))).HasValue);
    }

    [Fact]
    public async Task Unchanged_blobs_skip_only_final_rows_and_retry_rows_of_transient_causes()
    {
        var engine = fixture.Services.GetRequiredService<ConvNeXt.Batch.Service.Services.ScoringEngine>();
        var model = await engine.GetModelInfoAsync();
        var bytes = await File.ReadAllBytesAsync(Samples[5]);
        var table = new TableClient(fixture.ConnectionString, TableNames.Predictions);
        var bodies = new List<string>();
        foreach (var reason in new[] { "ReadFailed", "InferenceFailed", "Undecodable", "TooLarge" })
        {
            var name = $"skip/{reason}.jpg";
            var info = await fixture.UploadAsync("images", name, bytes);
            await table.UpsertEntityAsync(new PredictionEntity
            {
                PartitionKey = "images", RowKey = TableKeys.Escape(name), BlobName = name, Status = RowStatus.Failed, ErrorReason = reason,
                BlobETag = info.ETag.ToString(), ModelSha256 = model.Sha256, ModelId = model.ModelId,
            });
            bodies.Add(HostPayloads.EventGridBlobCreated(Uri(name), "images", name, info.ETag.ToString(), bytes.Length));
        }
        var (status, body) = await fixture.InvokeAsync("ScoreImages", HostPayloads.ServiceBusBatch(bodies));
        Assert.True(status == 200, body.ToJsonString());
        Assert.Equal((2L, 2L), (body["ReturnValue"]!["scored"]!.GetValue<long>(), body["ReturnValue"]!["skipped"]!.GetValue<long>()));
        var rows = (await RowsAsync("skip")).ToDictionary(r => r.BlobName, r => (r.Status, r.ErrorReason));
        Assert.Equal((RowStatus.Scored, (string?)null), rows["skip/ReadFailed.jpg"]);
        Assert.Equal((RowStatus.Scored, (string?)null), rows["skip/InferenceFailed.jpg"]);
        Assert.Equal((RowStatus.Failed, "Undecodable"), rows["skip/Undecodable.jpg"]);
        Assert.Equal((RowStatus.Failed, "TooLarge"), rows["skip/TooLarge.jpg"]);
    }

    [Fact]
    public async Task Tables_deleted_while_running_are_recreated_and_the_batch_is_scored()
    {
        var name = "vanish/a.jpg";
        var bytes = await File.ReadAllBytesAsync(Samples[6]);
        var info = await fixture.UploadAsync("images", name, bytes);
        var payload = HostPayloads.ServiceBusBatch([HostPayloads.EventGridBlobCreated(Uri(name), "images", name, info.ETag.ToString(), bytes.Length)]);
        Assert.Equal(200, (await fixture.InvokeAsync("ScoreImages", payload)).Status); // the process now believes the tables exist

        await new TableServiceClient(fixture.ConnectionString).DeleteTableAsync(TableNames.Predictions);
        var (status, body) = await fixture.InvokeAsync("ScoreImages", payload);
        Assert.True(status == 200, body.ToJsonString());
        var row = Assert.Single(await RowsAsync("vanish"));
        Assert.Equal(RowStatus.Scored, row.Status);
    }

    [Fact]
    public void A_configured_container_list_replaces_the_default()
    {
        var options = new ConvNeXt.Batch.Functions.Handler.HandlerOptions();
        new Microsoft.Extensions.Configuration.ConfigurationBuilder()
            .AddInMemoryCollection(new Dictionary<string, string?> { ["Handler:ScoredContainers:0"] = "other" }).Build()
            .GetSection("Handler").Bind(options);
        Assert.Equal(["other"], options.ContainersToScore());
        Assert.Equal(["images"], new ConvNeXt.Batch.Functions.Handler.HandlerOptions().ContainersToScore());
    }

    [Theory]
    [InlineData("/api/predictions/images/a/%2E%2E/secret.jpg")]
    [InlineData("/api/predictions/images/a/../secret.jpg")]
    [InlineData("/api/predictions/images/a//secret.jpg")]
    public async Task Dot_and_empty_segments_in_the_prediction_route_are_400_with_the_reason(string path)
    {
        // Sent as is: HttpClient would resolve the dot segments before the handler saw them.
        var context = await fixture.App.GetTestServer().SendAsync(c =>
        {
            c.Request.Method = "GET";
            c.Request.Path = System.Uri.UnescapeDataString(path);
            c.Request.Headers["x-functions-key"] = FunctionsFixture.FunctionKey;
        });
        var text = await new StreamReader(context.Response.Body).ReadToEndAsync();
        Assert.True(context.Response.StatusCode == 400, $"{context.Response.StatusCode}: {text}");
        Assert.Contains("path segment", text);
    }

    [Fact]
    public async Task An_invalid_container_in_a_run_request_is_400_with_the_reason()
    {
        var (status, body) = await fixture.InvokeAsync("CreateValidationRun", HostPayloads.HttpRequest("POST",
            "http://localhost/api/validation-runs", """{ "container": "NO_SUCH!", "prefix": "val100/", "labels": "labels/val.txt" }""",
            new Dictionary<string, string> { ["x-functions-key"] = FunctionsFixture.FunctionKey }));
        Assert.True(status == 200, body.ToJsonString());
        var res = body["Outputs"]!["res"]!;
        Assert.Equal(400, res["statusCode"]!.GetValue<int>());
        Assert.Contains("container name may hold only lower-case letters", res["body"]!.GetValue<string>());
        Assert.Null(body["Outputs"]!["chunks"]);
    }
}

/// <summary>Sees every HTTP request the Azure SDK sends in this process (its DiagnosticSource events).</summary>
internal sealed class RequestObserver : IObserver<System.Diagnostics.DiagnosticListener>, IObserver<KeyValuePair<string, object?>>, IDisposable
{
    private readonly Action<(string Method, string Path)> _onRequest;
    private readonly List<IDisposable> _subscriptions = [];

    public RequestObserver(Action<(string Method, string Path)> onRequest)
    {
        _onRequest = onRequest;
        _subscriptions.Add(System.Diagnostics.DiagnosticListener.AllListeners.Subscribe(this));
    }

    public void OnNext(System.Diagnostics.DiagnosticListener listener)
    {
        if (listener.Name == "HttpHandlerDiagnosticListener")
            lock (_subscriptions)
                _subscriptions.Add(listener.Subscribe(this));
    }

    public void OnNext(KeyValuePair<string, object?> e)
    {
        if (e.Key == "System.Net.Http.HttpRequestOut.Start" && e.Value?.GetType().GetProperty("Request")?.GetValue(e.Value) is HttpRequestMessage request)
            _onRequest((request.Method.Method, System.Uri.UnescapeDataString(request.RequestUri?.AbsolutePath ?? "")));
    }

    public void OnCompleted() { }
    public void OnError(Exception error) { }

    public void Dispose()
    {
        lock (_subscriptions)
            foreach (var s in _subscriptions)
                s.Dispose();
    }
}
