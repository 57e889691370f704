using System.Net;
using System.Text.Json;
using ConvNeXt.Batch.Functions.Handler;
using ConvNeXt.Batch.Service.Models;
using ConvNeXt.Batch.Service.Storage;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.TestHost;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Logging;

namespace ConvNeXt.Batch.Functions.Tests;

/// <summary>A model in blob storage must be pinned by SHA-256, or be loudly reported as unpinned.</summary>
[Collection(FunctionsCollection.Name)]
public class ModelPinningTests(FunctionsFixture fixture)
{
    private const string Blob = "models/pinning/squeezenet.onnx";

    private async Task<JsonElement> HealthAsync(Dictionary<string, string?> model)
    {
        await fixture.UploadAsync(ContainerNames.Models, "pinning/squeezenet.onnx", await File.ReadAllBytesAsync(Repository.SqueezeNet));
        var settings = FunctionsFixture.Settings(fixture.ConnectionString);
        settings["Model:CacheDirectory"] = Path.Combine(Path.GetTempPath(), "convnext-pinning-" + Guid.NewGuid().ToString("N")[..8]);
        foreach (var (key, value) in model)
            settings[key] = value;
        await using var app = HandlerApplication.Build([], b =>
        {
            b.WebHost.UseTestServer();
            b.Configuration.AddInMemoryCollection(settings);
            b.Logging.SetMinimumLevel(LogLevel.Warning);
        });
        await app.StartAsync();
        try
        {
            using var client = app.GetTestClient();
            using var request = new HttpRequestMessage(HttpMethod.Get, "/api/health/details");
            request.Headers.Add("x-functions-key", FunctionsFixture.FunctionKey);
            using var response = await client.SendAsync(request);
            var body = JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement.Clone();
            Assert.Equal(body.GetProperty("modelLoaded").GetBoolean() ? HttpStatusCode.OK : HttpStatusCode.ServiceUnavailable, response.StatusCode);
            return body;
        }
        finally
        {
            if (Directory.Exists(settings["Model:CacheDirectory"]))
                Directory.Delete(settings["Model:CacheDirectory"]!, recursive: true);
        }
    }

    [Fact]
    public async Task An_unpinned_blob_model_is_refused_before_it_is_downloaded()
    {
        var cache = Path.Combine(Path.GetTempPath(), "convnext-pinning-" + Guid.NewGuid().ToString("N")[..8]);
        var source = new ModelSource(new StorageAccount(new StorageOptions { ConnectionString = fixture.ConnectionString }));
        var refused = await Assert.ThrowsAsync<ModelIntegrityException>(() => source.ResolveAsync(Blob, null, cache));
        Assert.Contains("not pinned", refused.Message);
        Assert.Contains("MODEL_SHA256", refused.Message);
        Assert.False(Directory.Exists(cache) && Directory.EnumerateFiles(cache).Any(), "nothing may be downloaded");
        // A local file (e.g. inside the image) needs no pin; a pinned blob is fine.
        Assert.Null(ModelSource.UnpinnedReason(Repository.SqueezeNet, null));
        Assert.Null(ModelSource.UnpinnedReason(Blob, new string('a', 64)));
    }

    [Fact]
    public async Task Health_is_unhealthy_for_an_unpinned_blob_model()
    {
        var health = await HealthAsync(new() { ["Model:Location"] = Blob });
        Assert.Equal("Unhealthy", health.GetProperty("status").GetString());
        Assert.Contains("not pinned", health.GetProperty("error").GetString());
    }

    [Fact]
    public async Task Health_reports_an_allowed_unpinned_blob_model_as_unpinned()
    {
        var health = await HealthAsync(new() { ["Model:Location"] = Blob, ["Model:AllowUnpinned"] = "true" });
        Assert.Equal("Unpinned", health.GetProperty("status").GetString());
        Assert.False(health.GetProperty("pinned").GetBoolean());
        Assert.Contains("Model__Sha256", health.GetProperty("warning").GetString());
        Assert.Equal(await Scoring.FileSha256.ComputeAsync(Repository.SqueezeNet), health.GetProperty("sha256").GetString());
    }

    [Fact]
    public async Task Health_is_healthy_and_pinned_for_a_pinned_blob_model()
    {
        var sha = await Scoring.FileSha256.ComputeAsync(Repository.SqueezeNet);
        var health = await HealthAsync(new() { ["Model:Location"] = Blob, ["Model:Sha256"] = sha });
        Assert.Equal("Healthy", health.GetProperty("status").GetString());
        Assert.True(health.GetProperty("pinned").GetBoolean());
        Assert.False(health.TryGetProperty("warning", out _));
    }
}
