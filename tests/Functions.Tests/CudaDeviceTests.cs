using System.Net;
using System.Text.Json;
using ConvNeXt.Batch.Functions.Handler;
using ConvNeXt.Batch.Service.Api;
using ConvNeXt.Batch.Service.Services;
using ConvNeXt.Batch.Service.Storage;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.TestHost;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace ConvNeXt.Batch.Functions.Tests;

/// <summary>
/// The handler started with <c>Scoring__Device=cuda</c> on a machine without CUDA (this one): it must
/// not score on the CPU unnoticed. Health says Unhealthy and why; scoring invocations fail (transient,
/// redelivered) instead of writing rows.
/// </summary>
[Collection(FunctionsCollection.Name)]
public class CudaDeviceTests(FunctionsFixture fixture)
{
    // The tests build the CPU package of ONNX Runtime, which has no CUDA provider: CUDA cannot load here
    // even on a GPU machine, which is the case under test.
    [Fact]
    public async Task Device_cuda_without_cuda_is_unhealthy_and_fails_scoring_invocations()
    {
        var settings = FunctionsFixture.Settings(fixture.ConnectionString);
        settings["Scoring:Device"] = "cuda";
        await using var app = HandlerApplication.Build([], b =>
        {
            b.WebHost.UseTestServer();
            b.Configuration.AddInMemoryCollection(settings);
            b.Logging.SetMinimumLevel(LogLevel.Critical);
        });
        await app.StartAsync();
        using var client = app.GetTestClient();

        using var anonymous = await client.GetAsync("/api/health");
        Assert.Equal(HttpStatusCode.ServiceUnavailable, anonymous.StatusCode);
        Assert.Equal("""{"status":"Unhealthy"}""", await anonymous.Content.ReadAsStringAsync());

        using var request = new HttpRequestMessage(HttpMethod.Get, "/api/health/details");
        request.Headers.Add("x-functions-key", FunctionsFixture.FunctionKey);
        using var detailed = await client.SendAsync(request);
        Assert.Equal(HttpStatusCode.ServiceUnavailable, detailed.StatusCode);
        var health = JsonDocument.Parse(await detailed.Content.ReadAsStringAsync()).RootElement;
        Assert.False(health.GetProperty("modelLoaded").GetBoolean());
        Assert.StartsWith("CUDA execution provider unavailable on cuda:0", health.GetProperty("error").GetString(), StringComparison.Ordinal);

        // A scoring invocation fails as a whole (500: the host abandons and redelivers) and writes no row.
        var bytes = await File.ReadAllBytesAsync(Directory.GetFiles(Repository.ImagenetSamples, "*.JPEG").Order(StringComparer.Ordinal).First());
        var info = await fixture.UploadAsync("images", "cuda/one.jpg", bytes);
        var uri = fixture.Blobs.GetBlobContainerClient("images").GetBlobClient("cuda/one.jpg").Uri;
        var payload = HostPayloads.ServiceBusBatch([HostPayloads.EventGridBlobCreated(uri, "images", "cuda/one.jpg", info.ETag.ToString(), bytes.Length)]);
        var (status, body) = await FunctionsFixture.InvokeAsync(client, "ScoreImages", payload);
        Assert.True(status == 500, body.ToJsonString());
        Assert.Contains("CUDA execution provider unavailable", body.ToJsonString());
        Assert.Equal(StorageFailureKind.Transient, StorageFailures.Classify(new Scoring.Inference.ExecutionProviderException("no GPU")));
        var table = new Azure.Data.Tables.TableClient(fixture.ConnectionString, TableNames.Predictions);
        Assert.False((await table.GetEntityIfExistsAsync<PredictionEntity>("images", TableKeys.Escape("cuda/one.jpg"))).HasValue);
    }

    [Fact]
    public async Task The_execution_provider_is_a_metric_and_on_every_scored_result()
    {
        var measurements = new List<(int Value, string? Provider)>();
        using var listener = new System.Diagnostics.Metrics.MeterListener();
        listener.InstrumentPublished = (instrument, l) =>
        {
            if (instrument.Name == ConvNeXt.Batch.Service.Observability.ExecutionProviderMetric.Name)
                l.EnableMeasurementEvents(instrument);
        };
        listener.SetMeasurementEventCallback<int>((_, value, tags, _) =>
            measurements.Add((value, tags.ToArray().FirstOrDefault(t => t.Key == "execution_provider").Value as string)));
        listener.Start();
        var engine = fixture.Services.GetRequiredService<ScoringEngine>();
        await engine.GetClassifierAsync();
        listener.RecordObservableInstruments();
        Assert.Contains((1, "cpu"), measurements);

        var image = new Scoring.Pipeline.ImageInput("one", _ => ValueTask.FromResult<ReadOnlyMemory<byte>>(
            File.ReadAllBytes(Directory.GetFiles(Repository.ImagenetSamples, "*.JPEG").Order(StringComparer.Ordinal).First())));
        await foreach (var result in engine.ScoreAsync(new[] { image }.ToAsyncEnumerable()))
            Assert.Equal("cpu", result.ExecutionProvider);
    }

    [Fact]
    public async Task A_model_that_cannot_load_fails_scoring_after_the_configured_delay_and_health_at_once()
    {
        var missing = Path.Combine(Path.GetTempPath(), "convnext-missing-" + Guid.NewGuid().ToString("N")[..8] + ".onnx");
        using var engine = new ScoringEngine(new Service.Models.ModelOptions { Location = missing },
            new ScoringOptions { LoadFailureDelaySeconds = 1 }, storage: null);
        var image = new Scoring.Pipeline.ImageInput("one", _ => ValueTask.FromResult<ReadOnlyMemory<byte>>(new byte[] { 1 }));

        var started = System.Diagnostics.Stopwatch.StartNew();
        await Assert.ThrowsAnyAsync<Exception>(async () => { await foreach (var _ in engine.ScoreAsync(new[] { image }.ToAsyncEnumerable())) { } });
        // The invocation holds its messages a while before failing, so redeliveries are spread out...
        Assert.True(started.Elapsed >= TimeSpan.FromSeconds(0.9), $"failed after {started.Elapsed}");

        // ...while a health check learns of the failure at once.
        started.Restart();
        await Assert.ThrowsAnyAsync<Exception>(() => engine.GetClassifierAsync());
        Assert.True(started.Elapsed < TimeSpan.FromSeconds(0.9), $"health waited {started.Elapsed}");
    }

    [Fact]
    public async Task Health_is_checked_at_most_once_per_cache_period()
    {
        var engine = fixture.Services.GetRequiredService<ScoringEngine>();
        var storage = new StorageAccount(new StorageOptions { ConnectionString = fixture.ConnectionString });
        var cached = new ServiceHealth(engine, storage, TimeSpan.FromMinutes(5));
        for (var i = 0; i < 5; i++)
            Assert.Equal(200, (await cached.CheckAsync()).StatusCode);
        Assert.Equal(1, cached.Checks);
        // Concurrent callers share one check too.
        var fresh = new ServiceHealth(engine, storage, TimeSpan.FromMinutes(5));
        await Task.WhenAll(Enumerable.Range(0, 8).Select(_ => fresh.CheckAsync()));
        Assert.Equal(1, fresh.Checks);

        var uncached = new ServiceHealth(engine, storage, TimeSpan.Zero);
        await uncached.CheckAsync();
        await uncached.CheckAsync();
        Assert.Equal(2, uncached.Checks);
        Assert.Equal(TimeSpan.FromSeconds(10), ServiceHealth.DefaultCacheDuration);
    }
}
