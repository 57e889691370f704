using Azure;
using Azure.Data.Tables;
using ConvNeXt.Batch.Service.Contracts;
using ConvNeXt.Batch.Service.Services;
using ConvNeXt.Batch.Service.Storage;
using ConvNeXt.Batch.Service.Validation;
using Microsoft.AspNetCore.TestHost;
using Microsoft.Extensions.DependencyInjection;
using Polly;
using Polly.Simmy;
using Polly.Simmy.Fault;

namespace ConvNeXt.Batch.Functions.Tests;

/// <summary>Polly's chaos strategies inside the storage pipeline: transient faults on real Azurite calls.</summary>
[Collection(FunctionsCollection.Name)]
public class FaultInjectionTests(FunctionsFixture fixture)
{
    private sealed class Chaos
    {
        public int Injected;
        public volatile bool Enabled = true;
    }

    private StorageAccount ChaosStorage(Chaos chaos, double rate, int seed, int retries = 6) => new(new StorageOptions
    {
        ConnectionString = fixture.ConnectionString,
        Resilience = new StorageResilienceOptions
        {
            MaxRetryAttempts = retries,
            BaseDelay = TimeSpan.FromMilliseconds(2),
            MaxDelay = TimeSpan.FromMilliseconds(20),
            ConfigureInner = b => b.AddChaosFault(new ChaosFaultStrategyOptions
            {
                InjectionRate = rate,
                Randomizer = new Random(seed).NextDouble,
                EnabledGenerator = _ => ValueTask.FromResult(chaos.Enabled),
                FaultGenerator = _ =>
                {
                    Interlocked.Increment(ref chaos.Injected);
                    return ValueTask.FromResult<Exception?>(new RequestFailedException(503, "injected: server busy"));
                },
            }),
        },
    });

    [Fact]
    public async Task Ten_percent_of_storage_calls_failing_still_scores_every_image_exactly_once()
    {
        var names = new List<BlobReference>();
        foreach (var (path, i) in Directory.GetFiles(Repository.ImagenetSamples, "*.JPEG").Order(StringComparer.Ordinal).Take(30).Select((p, i) => (p, i)))
        {
            var name = $"chaos/{i:D2}-{Path.GetFileName(path)}";
            var info = await fixture.UploadAsync("images", name, await File.ReadAllBytesAsync(path));
            names.Add(new BlobReference("images", name, info.ETag.ToString()));
        }
        var chaos = new Chaos();
        var storage = ChaosStorage(chaos, 0.10, seed: 1234);
        var engine = fixture.Services.GetRequiredService<ScoringEngine>();
        await using var services = ServiceGraph.For(storage, engine, new Dictionary<string, string?> { ["Scoring:BatchSize"] = "8", ["Scoring:DecodeWorkers"] = "2" });
        var service = services.GetRequiredService<BlobScoringService>();

        var result = await service.ScoreAsync(names);
        Assert.True(chaos.Injected > 0, "no fault was injected");
        Assert.Equal(30, result.Scored);

        var table = new TableClient(fixture.ConnectionString, TableNames.Predictions);
        var low = TableKeys.Escape("chaos/");
        var rows = new List<PredictionEntity>();
        await foreach (var r in table.QueryAsync<PredictionEntity>(TableClient.CreateQueryFilter(
            $"PartitionKey eq {"images"} and RowKey ge {low} and RowKey lt {TableKeys.PrefixUpperBound(low)}")))
            rows.Add(r);
        Assert.Equal(names.Select(n => n.Name).Order(StringComparer.Ordinal), rows.Select(r => r.BlobName).Order(StringComparer.Ordinal));
        Assert.All(rows, r => Assert.Equal(RowStatus.Scored, r.Status));
    }

    [Fact]
    public async Task A_validation_run_under_faults_gives_the_same_metrics()
    {
        await new ValidationRunTests(fixture).InitializeAsync();
        var chaos = new Chaos();
        var storage = ChaosStorage(chaos, 0.10, seed: 99);
        var engine = fixture.Services.GetRequiredService<ScoringEngine>();
        var request = new ValidationRunRequest { Container = "validation", Prefix = "val100/", Labels = "labels/val.txt", ChunkSize = 25 };
        await using var services = ServiceGraph.For(storage, engine);
        var underFaults = await services.GetRequiredService<ValidationRunService>().RunLocallyAsync(request);
        Assert.True(chaos.Injected > 0);
        var clean = await fixture.Services.GetRequiredService<ValidationRunService>().RunLocallyAsync(request);
        Assert.Equal((RunStatus.Completed, 100), (underFaults.Run.Status, underFaults.Run.ImageCount!.Value));
        Assert.Equal((clean.Run.Top1, clean.Run.Top5, clean.Run.MeanConfidence), (underFaults.Run.Top1, underFaults.Run.Top5, underFaults.Run.MeanConfidence));
    }

    [Fact]
    public async Task Storage_down_through_every_retry_fails_the_invocation_and_redelivery_recovers()
    {
        var chaos = new Chaos { Enabled = false };
        await using var app = await FunctionsFixture.StartHandlerAsync(fixture.ConnectionString, services =>
            services.AddSingleton(ChaosStorage(chaos, 1.0, seed: 5, retries: 2)));
        using var client = app.GetTestClient();

        var name = "outage/goldfish.jpg";
        var bytes = await File.ReadAllBytesAsync(Directory.GetFiles(Repository.ImagenetSamples, "n01443537_*.JPEG")[0]);
        var info = await fixture.UploadAsync("images", name, bytes);
        var uri = fixture.Blobs.GetBlobContainerClient("images").GetBlobClient(name).Uri;
        var payload = HostPayloads.ServiceBusBatch([HostPayloads.EventGridBlobCreated(uri, "images", name, info.ETag.ToString(), bytes.Length)]);

        // Warm up (tables, model) with storage healthy, on another blob.
        var warmInfo = await fixture.UploadAsync("images", "outage/warm.jpg", bytes);
        var warmUri = fixture.Blobs.GetBlobContainerClient("images").GetBlobClient("outage/warm.jpg").Uri;
        using (var warm = await client.PostAsync("/ScoreImages", Json(HostPayloads.ServiceBusBatch(
                   [HostPayloads.EventGridBlobCreated(warmUri, "images", "outage/warm.jpg", warmInfo.ETag.ToString(), bytes.Length)]))))
            Assert.True(warm.IsSuccessStatusCode, await warm.Content.ReadAsStringAsync());

        chaos.Enabled = true;
        using (var failed = await client.PostAsync("/ScoreImages", Json(payload)))
        {
            Assert.Equal(500, (int)failed.StatusCode);
            Assert.Contains("redelivered", await failed.Content.ReadAsStringAsync());
        }
        var table = new TableClient(fixture.ConnectionString, TableNames.Predictions);
        Assert.False((await table.GetEntityIfExistsAsync<PredictionEntity>("images", TableKeys.Escape(name))).HasValue);

        chaos.Enabled = false;
        using (var redelivered = await client.PostAsync("/ScoreImages", Json(HostPayloads.ServiceBusBatch(
                   [HostPayloads.EventGridBlobCreated(uri, "images", name, info.ETag.ToString(), bytes.Length)], deliveryCount: 2))))
            Assert.Equal(200, (int)redelivered.StatusCode);
        var row = (await table.GetEntityAsync<PredictionEntity>("images", TableKeys.Escape(name))).Value;
        Assert.Equal(RowStatus.Scored, row.Status);
    }

    private static StringContent Json(System.Text.Json.Nodes.JsonObject payload) =>
        new(payload.ToJsonString(), System.Text.Encoding.UTF8, "application/json");
}
