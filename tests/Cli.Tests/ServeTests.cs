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
        var health = await server.Http.GetFromJsonAsync<JsonElement>("/api/health/details");
        Assert.Equal("Healthy", health.GetProperty("status").GetString());
        Assert.Equal(1000, health.GetProperty("classes").GetInt32());

        var wrongMethod = await server.Http.PostAsync("/api/predictions", new StringContent("{}", Encoding.UTF8, "application/json"));
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

        var noBlob = await server.Http.GetAsync("/api/predictions/images");
        Assert.Equal(HttpStatusCode.BadRequest, noBlob.StatusCode);
        Assert.StartsWith("bad request GET /api/predictions/images: a part of the route is missing", await ProblemAsync(noBlob));

        foreach (var method in new[] { HttpMethod.Put, HttpMethod.Delete, HttpMethod.Patch, HttpMethod.Options })
        {
            var refused = await server.Http.SendAsync(new HttpRequestMessage(method, "/api/validation-runs"));
            Assert.Equal(HttpStatusCode.MethodNotAllowed, refused.StatusCode);
            Assert.Equal($"{method.Method} is not supported on /api/validation-runs", await ProblemAsync(refused));
        }

        // The front door: a page linking every report and the API, with the navigation bar every report page has.
        var root = await server.Http.GetAsync("/");
        Assert.Equal(HttpStatusCode.OK, root.StatusCode);
        Assert.Equal("text/html", root.Content.Headers.ContentType!.MediaType);
        var home = await root.Content.ReadAsStringAsync();
        foreach (var link in new[] { "/api/reports/history", "/api/predictions/report", "/api/validation-runs", "/api/health" })
            Assert.Contains($"<a href=\"{link}\">", home);
        Assert.Contains("<nav class=\"site\">", home);
        var history = await (await server.Http.GetAsync("/api/reports/history")).Content.ReadAsStringAsync();
        Assert.Contains("<nav class=\"site\"><a href=\"/\">Home</a>", history);
        var unknownPage = await server.Http.GetAsync("/nope");
        Assert.Equal(HttpStatusCode.NotFound, unknownPage.StatusCode);
        Assert.StartsWith("no API route GET /nope", await ProblemAsync(unknownPage));

        var badBody = await server.Http.PostAsync("/api/validation-runs", new StringContent("{not json", Encoding.UTF8, "application/json"));
        Assert.Equal(HttpStatusCode.BadRequest, badBody.StatusCode);
        Assert.StartsWith("body is not a validation run request", await ProblemAsync(badBody));

        var stopped = await server.StopAsync();
        Assert.Equal(0, stopped.ExitCode);
        Assert.Contains("serving the API on http://127.0.0.1:", stopped.Error);
        Assert.Contains($"  start here:  http://127.0.0.1:{server.Http.BaseAddress!.Port}/", stopped.Error);
        Assert.Contains("  run history: http://127.0.0.1:", stopped.Error);
    }

    /// <summary>What a web page in the user's browser could send: a rebound Host, a cross-origin or non-JSON POST.</summary>
    [Fact]
    public async Task Serve_refuses_requests_a_web_page_could_send()
    {
        Repository.RequireShared();
        await using var server = await StartAsync();
        var port = server.Http.BaseAddress!.Port;
        async Task<(HttpStatusCode, string)> SendAsync(HttpMethod method, string? host = null, string? origin = null, string? contentType = null)
        {
            var request = new HttpRequestMessage(method, method == HttpMethod.Post ? "/api/validation-runs" : "/api/health");
            if (host is not null)
                request.Headers.Host = host;
            if (origin is not null)
                request.Headers.Add("Origin", origin);
            if (method == HttpMethod.Post)
                request.Content = contentType is null ? null : new StringContent("""{"container":"no-such-dataset"}""", Encoding.UTF8, contentType);
            var response = await server.Http.SendAsync(request);
            return (response.StatusCode, response.StatusCode == HttpStatusCode.OK ? "" : await ProblemAsync(response));
        }

        Assert.Equal((HttpStatusCode.MisdirectedRequest, "this server answers only requests to localhost, 127.0.0.1 or [::1] (the Host header names another host)"),
            await SendAsync(HttpMethod.Get, host: $"rebound.example:{port}"));
        Assert.Equal(HttpStatusCode.OK, (await SendAsync(HttpMethod.Get, host: $"localhost:{port}")).Item1);
        Assert.Equal((HttpStatusCode.UnsupportedMediaType, "POST needs Content-Type: application/json"), await SendAsync(HttpMethod.Post, contentType: "text/plain"));
        Assert.Equal(HttpStatusCode.UnsupportedMediaType, (await SendAsync(HttpMethod.Post)).Item1);
        Assert.Equal((HttpStatusCode.Forbidden, "POST from another origin is refused: a web page may not start work on this server"),
            await SendAsync(HttpMethod.Post, origin: "https://attacker.example", contentType: "application/json"));
        // Same origin, or no Origin (curl, the CLI): the request reaches the API, which answers for the body.
        var (status, error) = await SendAsync(HttpMethod.Post, origin: $"http://127.0.0.1:{port}", contentType: "application/json");
        Assert.Equal(HttpStatusCode.BadRequest, status);
        Assert.StartsWith("container 'no-such-dataset' is not a dataset container", error);
        // StringContent sends "application/json; charset=utf-8": parameters do not matter.
        Assert.Equal(HttpStatusCode.BadRequest, (await SendAsync(HttpMethod.Post, contentType: "application/json")).Item1);
    }

    /// <summary>SIGTERM (kill, docker stop) stops serve like Ctrl+C does; the web host used to swallow it and keep the process alive.</summary>
    [Fact]
    public async Task Serve_as_a_process_stops_on_sigterm()
    {
        Repository.RequireShared();
        var port = FreePort();
        var start = new System.Diagnostics.ProcessStartInfo("dotnet")
        {
            ArgumentList = { Path.Combine(AppContext.BaseDirectory, "convnext-batch.dll"), "serve", "--port", port.ToString(System.Globalization.CultureInfo.InvariantCulture),
                "--model", atto.ModelPath, "--connection-string", azurite.ConnectionString },
            RedirectStandardError = true,
            RedirectStandardOutput = true,
            UseShellExecute = false,
        };
        using var process = System.Diagnostics.Process.Start(start)!;
        var error = process.StandardError.ReadToEndAsync();
        try
        {
            using var http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{port}") };
            var healthy = false;
            for (var i = 0; i < 600 && !healthy && !process.HasExited; i++)
            {
                try
                {
                    healthy = (await http.GetAsync("/api/health")).StatusCode == HttpStatusCode.OK;
                }
                catch (HttpRequestException)
                {
                    await Task.Delay(100);
                }
            }
            Assert.True(healthy, "serve did not answer /api/health");

            using (var kill = System.Diagnostics.Process.Start("kill", ["-TERM", process.Id.ToString(System.Globalization.CultureInfo.InvariantCulture)]))
                await kill.WaitForExitAsync();
            // A guard against hanging the test run, not a speed requirement.
            using var guard = new CancellationTokenSource(TimeSpan.FromSeconds(60));
            await process.WaitForExitAsync(guard.Token);
            Assert.Equal(0, process.ExitCode);
            Assert.Contains("stopping", await error);
        }
        finally
        {
            if (!process.HasExited)
                process.Kill(entireProcessTree: true);
        }
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

        await using var server = await StartAsync("--chunk-size", "3", "--validation-container", "serve-validation");
        var outside = await server.Http.PostAsync("/api/validation-runs",
            new StringContent("""{"container":"validation","labels":"names"}""", Encoding.UTF8, "application/json"));
        Assert.Equal(HttpStatusCode.BadRequest, outside.StatusCode);
        Assert.StartsWith("container 'validation' is not a dataset container", await ProblemAsync(outside));
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
    public async Task A_scoring_job_posted_to_serve_runs_in_process_and_shows_its_counts_and_page()
    {
        Repository.RequireShared();
        var container = new BlobServiceClient(azurite.ConnectionString).GetBlobContainerClient("serve-jobs");
        await container.CreateIfNotExistsAsync();
        foreach (var file in Directory.GetFiles(Repository.ImagenetSamples).Order(StringComparer.Ordinal).Skip(20).Take(7))
            await container.GetBlobClient("old/" + Path.GetFileName(file)).UploadAsync(file, overwrite: true);

        // Jobs may score `images` and the watched container; the watcher may score some blobs first, which the job then skips.
        await using var server = await StartAsync("--watch", "serve-jobs", "--interval", "3600");
        var model = (await server.Http.GetFromJsonAsync<JsonElement>("/api/health/details")).GetProperty("modelId").GetString();
        var refused = await server.Http.PostAsync("/api/scoring-jobs", new StringContent($$"""{"container":"validation","model":"{{model}}@1"}""", Encoding.UTF8, "application/json"));
        Assert.Equal(HttpStatusCode.BadRequest, refused.StatusCode);
        Assert.Contains("is not one jobs may score", await ProblemAsync(refused));

        var response = await server.Http.PostAsync("/api/scoring-jobs", new StringContent($$"""{"container":"serve-jobs","prefix":"old/","model":"{{model}}@1"}""", Encoding.UTF8, "application/json"));
        Assert.Equal(HttpStatusCode.Created, response.StatusCode);
        var jobId = (await response.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("jobId").GetString()!;
        JsonElement job = default;
        for (var i = 0; i < 600; i++)
        {
            job = await server.Http.GetFromJsonAsync<JsonElement>($"/api/scoring-jobs/{jobId}");
            if (job.GetProperty("status").GetString() != "Running")
                break;
            await Task.Delay(100);
        }
        Assert.Equal(("Completed", 7), (job.GetProperty("status").GetString(), job.GetProperty("planned").GetInt32()));
        Assert.Equal(7, job.GetProperty("done").GetInt32() + job.GetProperty("skipped").GetInt32());
        var list = await server.Http.GetFromJsonAsync<JsonElement>("/api/scoring-jobs");
        Assert.Contains(list.GetProperty("items").EnumerateArray(), j => j.GetProperty("jobId").GetString() == jobId);
        var page = await server.Http.GetStringAsync($"/api/scoring-jobs/{jobId}/report");
        Assert.Contains("id=\"planned\" data-value=\"7\"", page);
        Assert.Equal(HttpStatusCode.NotFound, (await server.Http.PostAsync("/api/scoring-jobs/job-none/cancel", new StringContent("", Encoding.UTF8, "application/json"))).StatusCode);
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

/// <summary>
/// The <c>serve</c> walkthrough in docs/cli.md, run as written: every <c>convnext-batch</c> line in process,
/// every <c>curl</c> and <c>xdg-open</c> line as the HTTP request it makes, against its own Azurite
/// (the walkthrough uses the default containers). Two substitutions: a free port for 7071, and five
/// sample images for the 1000 of <c>imagenet-samples</c>.
/// </summary>
public class ServeWalkthroughTests
{
    private const string DocumentedOrigin = "localhost:7071";

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    [Fact]
    public async Task The_documented_serve_walkthrough_works_as_written()
    {
        Repository.RequireShared();
        await using var azurite = await Azurite.StartAsync();
        var samples = CliRunner.TempDirectory();
        foreach (var name in PredictTests.WellKnown)
            File.Copy(Path.Combine(Repository.ImagenetSamples, name), Path.Combine(samples, name));
        var port = FreePort();
        using var http = new HttpClient();
        using var stop = new CancellationTokenSource();
        Task<CliResult>? server = null;
        string? runId = null;
        var requests = 0;
        try
        {
            foreach (var words in Walkthrough())
            {
                var args = words.Select(w => w
                    .Replace(DocumentedOrigin, $"127.0.0.1:{port}", StringComparison.Ordinal)
                    .Replace("<runId>", runId ?? "<runId>", StringComparison.Ordinal)).ToList();
                switch (args[0])
                {
                    case "tools/azurite/node_modules/.bin/azurite":
                        break; // the test's own Azurite
                    case "convnext-batch" when args[1] == "serve":
                        args = [.. args.Skip(1).Where(a => a != "&").Select(Local), "--interval", "0.2", "--connection-string", azurite.ConnectionString];
                        Assert.Equal("7071", args[args.IndexOf("--port") + 1]);
                        args[args.IndexOf("--port") + 1] = port.ToString(System.Globalization.CultureInfo.InvariantCulture);
                        server = StartServer([.. args], stop.Token);
                        await WaitForHealthAsync(http, port, server);
                        break;
                    case "convnext-batch":
                        Assert.Equal(Path.Combine("..", "shared", "data", "imagenet-samples"), args[2]);
                        args[2] = samples;
                        await CliRunner.RunOkAsync([.. args.Skip(1), "--connection-string", azurite.ConnectionString]);
                        break;
                    case "curl":
                        requests++;
                        var (status, body) = await CurlAsync(http, args, runId);
                        Assert.True(status is >= 200 and < 300, $"{string.Join(' ', words)} → {status} {body}");
                        using (var json = JsonDocument.Parse(body))
                            if (json.RootElement.ValueKind == JsonValueKind.Object && json.RootElement.TryGetProperty("runId", out var id) && runId is null)
                                runId = id.GetString();
                        break;
                    case "xdg-open":
                        requests++;
                        var page = await http.GetAsync("http://" + args[1]);
                        Assert.True(page.StatusCode == HttpStatusCode.OK, $"{string.Join(' ', words)} → {page.StatusCode}");
                        Assert.Equal("text/html", page.Content.Headers.ContentType?.MediaType);
                        break;
                    default:
                        Assert.Fail($"the walkthrough has a line this test does not know: {string.Join(' ', words)}");
                        break;
                }
            }
            Assert.NotNull(runId);
            Assert.True(requests >= 8, $"{requests} requests");
        }
        finally
        {
            await stop.CancelAsync();
            if (server is not null)
                Assert.Equal(0, (await server).ExitCode);
        }

        string Local(string word) => word.StartsWith("../shared/", StringComparison.Ordinal)
            ? Path.Combine(Repository.Shared, word["../shared/".Length..]) : word;
    }

    /// <summary>
    /// One curl line as the request it makes. A GET that waits on background work (the watcher scoring an upload,
    /// a run being scored) is repeated until that work is visible, as a user would re-run it.
    /// </summary>
    private static async Task<(int Status, string Body)> CurlAsync(HttpClient http, IReadOnlyList<string> args, string? runId)
    {
        var method = HttpMethod.Get;
        string? data = null, url = null;
        var headers = new List<(string, string)>();
        for (var i = 1; i < args.Count; i++)
        {
            switch (args[i])
            {
                case "-s":
                    break;
                case "-X":
                    method = new HttpMethod(args[++i]);
                    break;
                case "-H":
                    var header = args[++i].Split(':', 2);
                    headers.Add((header[0].Trim(), header[1].Trim()));
                    break;
                case "-d":
                    data = args[++i];
                    method = method == HttpMethod.Get ? HttpMethod.Post : method;
                    break;
                default:
                    Assert.False(args[i].StartsWith('-'), $"curl option {args[i]}");
                    url = "http://" + args[i];
                    break;
            }
        }
        Assert.NotNull(url);
        for (var attempt = 0; ; attempt++)
        {
            using var request = new HttpRequestMessage(method, url);
            if (data is not null)
            {
                // curl -d sends application/x-www-form-urlencoded unless told otherwise.
                request.Content = new StringContent(data);
                request.Content.Headers.ContentType = new System.Net.Http.Headers.MediaTypeHeaderValue("application/x-www-form-urlencoded");
            }
            foreach (var (name, value) in headers)
            {
                if (name.Equals("Content-Type", StringComparison.OrdinalIgnoreCase))
                    request.Content!.Headers.ContentType = System.Net.Http.Headers.MediaTypeHeaderValue.Parse(value);
                else
                    request.Headers.Add(name, value);
            }
            using var response = await http.SendAsync(request);
            var body = await response.Content.ReadAsStringAsync();
            var waiting = method == HttpMethod.Get && attempt < 300 && (
                response.StatusCode == HttpStatusCode.NotFound && url.Contains("/api/predictions/", StringComparison.Ordinal)
                || url.Contains("/api/predictions?", StringComparison.Ordinal) && !body.Contains("\"Scored\"", StringComparison.Ordinal)
                || runId is not null && url.Contains(runId, StringComparison.Ordinal) && body.Contains("\"Running\"", StringComparison.Ordinal));
            if (!waiting)
            {
                if (runId is not null && url.EndsWith(runId, StringComparison.Ordinal))
                    Assert.Contains("\"Completed\"", body);
                return ((int)response.StatusCode, body);
            }
            await Task.Delay(100);
        }
    }

    private static Task<CliResult> StartServer(string[] args, CancellationToken stop)
    {
        var output = new StringWriter();
        var error = new StringWriter();
        return Task.Run(async () => new CliResult(await Program.InvokeAsync(args, output, error, stop), output.ToString(), error.ToString()));
    }

    private static async Task WaitForHealthAsync(HttpClient http, int port, Task<CliResult> server)
    {
        for (var i = 0; i < 300; i++)
        {
            if (server.IsCompleted)
                Assert.Fail("serve exited early: " + await server);
            try
            {
                if ((await http.GetAsync($"http://127.0.0.1:{port}/api/health")).StatusCode == HttpStatusCode.OK)
                    return;
            }
            catch (HttpRequestException)
            {
            }
            await Task.Delay(100);
        }
        Assert.Fail("serve did not answer /api/health");
    }

    /// <summary>The serve section's shell block, one command a line (continuations joined, comments dropped), as shell words.</summary>
    private static IEnumerable<List<string>> Walkthrough()
    {
        var doc = File.ReadAllText(Path.Combine(Repository.Root, "docs", "cli.md"));
        var section = doc[doc.IndexOf("### `serve`", StringComparison.Ordinal)..];
        var start = section.IndexOf("```bash\n", StringComparison.Ordinal) + "```bash\n".Length;
        var block = section[start..section.IndexOf("```", start, StringComparison.Ordinal)];
        foreach (var line in block.Replace("\\\n", " ", StringComparison.Ordinal).Split('\n'))
        {
            var words = ShellWords(line);
            if (words.Count > 0)
                yield return words;
        }
    }

    private static List<string> ShellWords(string line)
    {
        var words = new List<string>();
        var word = new System.Text.StringBuilder();
        var inWord = false;
        for (var i = 0; i < line.Length; i++)
        {
            var c = line[i];
            if (c == '\'')
            {
                var end = line.IndexOf('\'', i + 1);
                word.Append(line, i + 1, end - i - 1);
                inWord = true;
                i = end;
            }
            else if (char.IsWhiteSpace(c))
            {
                if (inWord)
                    words.Add(word.ToString());
                word.Clear();
                inWord = false;
            }
            else if (c == '#' && !inWord)
            {
                break; // a comment
            }
            else
            {
                word.Append(c);
                inWord = true;
            }
        }
        if (inWord)
            words.Add(word.ToString());
        return words;
    }
}
