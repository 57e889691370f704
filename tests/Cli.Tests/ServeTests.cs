using System.Net;
using System.Net.Http.Json;
using System.Net.Sockets;
using System.Text;
using System.Text.Json;
using Azure.Storage.Blobs;

namespace ConvNeXt.Batch.Cli.Tests;

/// <summary><c>convnext-batch serve</c> answered over HTTP, against Azurite.</summary>
[Collection(AzuriteCollection.Name)]
public class ServeTests(AzuriteFixture azurite, AttoModelFixture atto) : IClassFixture<AttoModelFixture>
{
    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    private sealed class Server(Task<CliResult> run, CancellationTokenSource stop, HttpClient http) : IAsyncDisposable
    {
        public HttpClient Http => http;

        public async Task<CliResult> StopAsync()
        {
            await stop.CancelAsync();
            return await run;
        }

        public async ValueTask DisposeAsync()
        {
            await stop.CancelAsync();
            try { await run; } catch (OperationCanceledException) { }
            http.Dispose();
            stop.Dispose();
        }
    }

    private async Task<Server> StartAsync(params string[] extra)
    {
        var port = FreePort();
        var stop = new CancellationTokenSource();
        var output = new StringWriter();
        var error = new StringWriter();
        string[] args = ["serve", "--port", port.ToString(System.Globalization.CultureInfo.InvariantCulture), "--model", atto.ModelPath,
            "--connection-string", azurite.ConnectionString, .. extra];
        var run = Task.Run(async () => new CliResult(await Program.InvokeAsync(args, output, error, stop.Token), output.ToString(), error.ToString()));
        var http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{port}") };
        for (var i = 0; i < 300; i++)
        {
            if (run.IsCompleted)
                Assert.Fail("serve exited early: " + await run);
            try
            {
                if ((await http.GetAsync("/api/health")).StatusCode == HttpStatusCode.OK)
                    return new Server(run, stop, http);
            }
            catch (HttpRequestException)
            {
            }
            await Task.Delay(100);
        }
        throw new TimeoutException("serve did not answer /api/health: " + error);
    }

    private static async Task<string> ProblemAsync(HttpResponseMessage response)
    {
        Assert.Equal("application/json", response.Content.Headers.ContentType?.MediaType);
        using var doc = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        return doc.RootElement.GetProperty("error").GetString()!;
    }

    [Fact]
    public async Task Serves_health_queries_and_json_problems_for_what_it_cannot_serve()
    {
        Repository.RequireShared();
        await using var server = await StartAsync();
        var health = await server.Http.GetFromJsonAsync<JsonElement>("/api/health");
        Assert.Equal("Healthy", health.GetProperty("status").GetString());
        Assert.Equal(1000, health.GetProperty("classes").GetInt32());

        var wrongMethod = await server.Http.PostAsync("/api/predictions", new StringContent("{}"));
        Assert.Equal(HttpStatusCode.MethodNotAllowed, wrongMethod.StatusCode);
        Assert.Contains("POST is not supported on /api/predictions", await ProblemAsync(wrongMethod));

        var unknown = await server.Http.GetAsync("/api/nope");
        Assert.Equal(HttpStatusCode.NotFound, unknown.StatusCode);
        Assert.Contains("no API route GET /api/nope", await ProblemAsync(unknown));

        var badTop = await server.Http.GetAsync("/api/predictions?top=abc");
        Assert.Equal(HttpStatusCode.BadRequest, badTop.StatusCode);
        Assert.Equal("top must be an integer", await ProblemAsync(badTop));

        var missing = await server.Http.GetAsync("/api/validation-runs/no-such-run");
        Assert.Equal(HttpStatusCode.NotFound, missing.StatusCode);
        Assert.Equal("not found", await ProblemAsync(missing));

        var badBody = await server.Http.PostAsync("/api/validation-runs", new StringContent("{not json", Encoding.UTF8, "application/json"));
        Assert.Equal(HttpStatusCode.BadRequest, badBody.StatusCode);
        Assert.StartsWith("body is not a validation run request", await ProblemAsync(badBody));

        var stopped = await server.StopAsync();
        Assert.Equal(0, stopped.ExitCode);
        Assert.Contains("serving the API on http://127.0.0.1:", stopped.Error);
    }

    [Fact]
    public async Task A_validation_run_posted_to_serve_is_scored_in_process_and_queryable()
    {
        Repository.RequireShared();
        var container = new BlobServiceClient(azurite.ConnectionString).GetBlobContainerClient("serve-validation");
        await container.CreateIfNotExistsAsync();
        var samples = Directory.GetFiles(Repository.ImagenetSamples).Order(StringComparer.Ordinal).Take(7).ToList();
        foreach (var file in samples)
            await container.GetBlobClient("set/" + Path.GetFileName(file)).UploadAsync(file, overwrite: true);

        await using var server = await StartAsync("--chunk-size", "3");
        var response = await server.Http.PostAsync("/api/validation-runs",
            new StringContent("""{"container":"serve-validation","prefix":"set/","labels":"names","runId":"serve-run-1"}""", Encoding.UTF8, "application/json"));
        Assert.Equal(HttpStatusCode.Created, response.StatusCode);
        var created = await response.Content.ReadFromJsonAsync<JsonElement>();
        Assert.Equal(7, created.GetProperty("expectedImageCount").GetInt32());
        Assert.Equal(3, created.GetProperty("chunkCount").GetInt32());

        JsonElement run = default;
        for (var i = 0; i < 600; i++)
        {
            run = (await server.Http.GetFromJsonAsync<JsonElement>("/api/validation-runs/serve-run-1")).GetProperty("run");
            if (run.GetProperty("status").GetString() != "Running")
                break;
            await Task.Delay(100);
        }
        Assert.Equal("Completed", run.GetProperty("status").GetString());
        Assert.Equal(7, run.GetProperty("imageCount").GetInt32());

        var list = await server.Http.GetFromJsonAsync<JsonElement>("/api/validation-runs?top=50");
        Assert.Contains(list.GetProperty("items").EnumerateArray(), r => r.GetProperty("runId").GetString() == "serve-run-1");

        // The run's report page, as the Functions API serves it.
        var page = await server.Http.GetAsync("/api/validation-runs/serve-run-1/report");
        Assert.Equal(HttpStatusCode.OK, page.StatusCode);
        Assert.Equal("text/html", page.Content.Headers.ContentType?.MediaType);
        var html = await page.Content.ReadAsStringAsync();
        Assert.Contains("serve-run-1", html);
        Assert.Contains("<svg", html);
        Assert.Equal(HttpStatusCode.NotFound, (await server.Http.GetAsync("/api/validation-runs/no-such-run/report")).StatusCode);
    }

    [Fact]
    public async Task Serve_with_watch_scores_new_blobs_into_predictions()
    {
        Repository.RequireShared();
        var container = new BlobServiceClient(azurite.ConnectionString).GetBlobContainerClient("serve-watched");
        await container.CreateIfNotExistsAsync();
        await using var server = await StartAsync("--watch", "serve-watched", "--interval", "0.2");
        await container.GetBlobClient("new/tench.JPEG").UploadAsync(Path.Combine(Repository.ImagenetSamples, "n01440764_tench.JPEG"), overwrite: true);

        HttpResponseMessage row = null!;
        for (var i = 0; i < 300; i++)
        {
            row = await server.Http.GetAsync("/api/predictions/serve-watched/new/tench.JPEG");
            if (row.StatusCode == HttpStatusCode.OK)
                break;
            await Task.Delay(100);
        }
        Assert.Equal(HttpStatusCode.OK, row.StatusCode);
        var record = await row.Content.ReadFromJsonAsync<JsonElement>();
        Assert.Equal("Scored", record.GetProperty("status").GetString());
    }
}
