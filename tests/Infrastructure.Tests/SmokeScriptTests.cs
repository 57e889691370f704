using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text;
using System.Text.Json.Nodes;

namespace ConvNeXt.Batch.Infrastructure.Tests;

/// <summary>
/// scripts/smoke-azure.sh against a stand-in of the API app (an HttpListener answering like the
/// handler) and a stand-in `az` on PATH: the steps run in order, and a failure names its step.
/// </summary>
public sealed class SmokeScriptTests
{
    private static string Script => Path.Combine(Repository.Root, "scripts", "smoke-azure.sh");

    private sealed record Run(int ExitCode, string StdOut, string StdErr);

    private static async Task<Run> RunScriptAsync(IDictionary<string, string> environment, params string[] args)
    {
        var start = new ProcessStartInfo("bash", [Script, .. args]) { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var (k, v) in environment)
            start.Environment[k] = v;
        using var process = Process.Start(start)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(2));
        await process.WaitForExitAsync(timeout.Token);
        return new Run(process.ExitCode, await stdout, await stderr);
    }

    /// <summary>A folder with labelled images and a fake `az` that records its arguments and succeeds.</summary>
    private sealed class Workspace : IDisposable
    {
        public string Root { get; } = Path.Combine(Path.GetTempPath(), "convnext-smoke-" + Guid.NewGuid().ToString("N")[..8]);
        public string Images => Path.Combine(Root, "images");
        public string AzLog => Path.Combine(Root, "az.log");

        public Workspace()
        {
            Directory.CreateDirectory(Images);
            Directory.CreateDirectory(Path.Combine(Root, "bin"));
            foreach (var name in new[] { "n01440764_tench.JPEG", "n01443537_goldfish.JPEG", "n01484850_shark.JPEG" })
                File.WriteAllBytes(Path.Combine(Images, name), [0xFF, 0xD8, 0xFF, 0xD9]);
            var az = Path.Combine(Root, "bin", "az");
            // Records its arguments and answers the queries the script makes (FAKE_* variables change the answers).
            File.WriteAllText(az, $$"""
                #!/usr/bin/env bash
                echo "$*" >> '{{AzLog}}'
                case "$*" in
                  *"function keys list"*) echo k3y ;;
                  *"servicebus queue show"*) echo "${FAKE_DEAD_LETTERS:-0}" ;;
                  *"metrics alert list"*) printf '%s\n' dead-letters-score-requests dead-letters-validation-chunks ;;
                  *"scheduled-query list"*) [[ -n "${FAKE_NO_LOG_ALERTS:-}" ]] || printf '%s\n' scaler-errors health-unhealthy ;;
                esac

                """);
            if (!OperatingSystem.IsWindows())
                File.SetUnixFileMode(az, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        }

        public Dictionary<string, string> Environment(string url) => new()
        {
            ["PATH"] = Path.Combine(Root, "bin") + ":" + System.Environment.GetEnvironmentVariable("PATH"),
            ["AZURE_FUNCTION_APP_URL"] = url,
            ["AZURE_STORAGE_ACCOUNT_NAME"] = "stsmoke",
            ["FUNCTION_KEY"] = "k3y",
            ["SMOKE_POLL_SECONDS"] = "0.2",
            ["AZURE_RESOURCE_GROUP"] = "rg-smoke",
            ["AZURE_FUNCTION_APP_NAME"] = "func-api-smoke",
            ["AZURE_SERVICEBUS_NAMESPACE"] = "sb-smoke",
            ["SCORING_PROFILE"] = "gpu-t4",
            ["AZURE_ALERT_RULES"] = """["dead-letters-score-requests","dead-letters-validation-chunks","scaler-errors","health-unhealthy"]""",
        };

        public void Dispose() => Directory.Delete(Root, recursive: true);
    }

    /// <summary>Answers like the API app: the prediction appears on the second poll, the run completes on the second.</summary>
    private sealed class FakeApi : IAsyncDisposable
    {
        private readonly HttpListener _listener = new();
        private readonly Task _loop;
        private int _predictionPolls, _runPolls;
        public string Url { get; }
        public string PredictionStatus { get; init; } = "Scored";
        public string ExecutionProvider { get; init; } = "cuda:0";
        /// <summary>When set, each request is also appended here (to order it against the fake az's calls).</summary>
        public string? SharedLog { get; init; }
        public List<string> Requests { get; } = [];
        public string? RunRequest { get; private set; }

        public FakeApi()
        {
            var probe = new TcpListener(IPAddress.Loopback, 0);
            probe.Start();
            var port = ((IPEndPoint)probe.LocalEndpoint).Port;
            probe.Stop();
            Url = $"http://127.0.0.1:{port}";
            _listener.Prefixes.Add(Url + "/");
            _listener.Start();
            _loop = Task.Run(LoopAsync);
        }

        private async Task LoopAsync()
        {
            while (_listener.IsListening)
            {
                HttpListenerContext context;
                try { context = await _listener.GetContextAsync(); }
                catch (Exception) { return; }
                var request = context.Request;
                lock (Requests)
                {
                    Requests.Add($"{request.HttpMethod} {request.Url!.AbsolutePath}");
                    if (SharedLog is not null)
                        File.AppendAllText(SharedLog, $"{request.HttpMethod} {request.Url!.AbsolutePath}\n");
                }
                var (status, body) = Answer(request);
                var bytes = Encoding.UTF8.GetBytes(body);
                context.Response.StatusCode = status;
                context.Response.ContentType = "application/json";
                await context.Response.OutputStream.WriteAsync(bytes);
                context.Response.Close();
            }
        }

        private (int, string) Answer(HttpListenerRequest request)
        {
            var path = request.Url!.AbsolutePath;
            if (path == "/api/health")
                return (200, """{"status":"Healthy"}""");
            if (request.Headers["x-functions-key"] != "k3y")
                return (401, """{"error":"a function key is required"}""");
            if (path == "/api/health/details")
                return (200, """{"status":"Healthy","modelLoaded":true,"modelId":"convnext_tiny","sha256":"ab12","executionProvider":"cpu"}""");
            if (path == "/api/predictions" && request.QueryString["container"] == "images" && request.QueryString["blob"] is { } blob)
                return Interlocked.Increment(ref _predictionPolls) < 2
                    ? (404, """{"error":"not found"}""")
                    : (200, new JsonObject
                    {
                        ["container"] = "images", ["blob"] = blob, ["status"] = PredictionStatus, ["errorReason"] = PredictionStatus == "Scored" ? null : "Undecodable",
                        ["executionProvider"] = ExecutionProvider,
                        ["top"] = new JsonArray(new JsonObject { ["index"] = 0, ["wnid"] = "n01440764", ["name"] = "tench", ["probability"] = 0.93 }),
                    }.ToJsonString());
            if (path == "/api/validation-runs" && request.HttpMethod == "POST")
            {
                RunRequest = new StreamReader(request.InputStream).ReadToEnd();
                var runId = JsonNode.Parse(RunRequest)!["runId"]!.GetValue<string>();
                return (201, new JsonObject { ["runId"] = runId, ["status"] = "Running", ["chunkCount"] = 1 }.ToJsonString());
            }
            if (path.StartsWith("/api/validation-runs/", StringComparison.Ordinal))
            {
                var done = Interlocked.Increment(ref _runPolls) >= 2;
                return (200, new JsonObject
                {
                    ["run"] = new JsonObject
                    {
                        ["runId"] = path.Split('/')[^1], ["status"] = done ? "Completed" : "Running", ["chunkCount"] = 1, ["imageCount"] = 3,
                        ["scoredCount"] = 3, ["errorCount"] = 0, ["top1"] = 0.6667, ["top5"] = 1.0, ["modelId"] = "convnext_tiny", ["modelSha256"] = "ab12",
                    },
                    ["chunksDone"] = done ? 1 : 0,
                }.ToJsonString());
            }
            return (404, """{"error":"no route"}""");
        }

        public async ValueTask DisposeAsync()
        {
            _listener.Stop();
            _listener.Close();
            await _loop;
        }
    }

    [Fact]
    public async Task Script_parses()
    {
        var check = await RunScriptAsync(new Dictionary<string, string>(), "--help");
        Assert.Equal(0, check.ExitCode);
        var syntax = Process.Start(new ProcessStartInfo("bash", ["-n", Script]) { RedirectStandardError = true })!;
        var errors = await syntax.StandardError.ReadToEndAsync();
        await syntax.WaitForExitAsync();
        Assert.True(syntax.ExitCode == 0, errors);
    }

    [Fact]
    public async Task Bad_arguments_exit_2()
    {
        Assert.Equal(2, (await RunScriptAsync(new Dictionary<string, string>())).ExitCode);
        Assert.Equal(2, (await RunScriptAsync(new Dictionary<string, string>(), "--images", "/nonexistent")).ExitCode);
        Assert.Equal(2, (await RunScriptAsync(new Dictionary<string, string>(), "--bogus")).ExitCode);
    }

    [Fact]
    public async Task A_healthy_deployment_passes_every_step_in_order()
    {
        using var workspace = new Workspace();
        await using var api = new FakeApi();
        var run = await RunScriptAsync(workspace.Environment(api.Url), "--images", workspace.Images, "--timeout", "30");
        Assert.True(run.ExitCode == 0, run.StdOut + run.StdErr);
        var steps = run.StdOut.Split('\n').Where(l => l.StartsWith("== ", StringComparison.Ordinal)).Select(l => l[3..].Split(':')[0]).ToList();
        Assert.Equal(["setup", "health", "upload", "prediction", "validation", "completion", "deadletters", "alerts"], steps);
        Assert.Contains("top-1: n01440764 tench p=0.93 on cuda:0", run.StdOut);
        Assert.Contains("model convnext_tiny sha256 ab12", run.StdOut);
        Assert.Contains("4 rules present", run.StdOut);
        Assert.Contains("images 3, scored 3, errors 0, top-1 0.6667, top-5 1", run.StdOut);

        // One image to images/, the three labelled ones to validation/<id>/, and a run over that prefix with wnid-named labels.
        var uploads = File.ReadAllLines(workspace.AzLog);
        Assert.Contains("servicebus queue show -g rg-smoke --namespace-name sb-smoke -n validation-chunks --query countDetails.deadLetterMessageCount -o tsv", uploads);
        Assert.Single(uploads, u => u.Contains("-c images -n smoke/", StringComparison.Ordinal));
        Assert.Equal(3, uploads.Count(u => u.Contains("-c validation -n smoke-", StringComparison.Ordinal)));
        var body = JsonNode.Parse(api.RunRequest!)!;
        Assert.Equal(("validation", "names"), (body["container"]!.GetValue<string>(), body["labels"]!.GetValue<string>()));
        Assert.StartsWith(body["runId"]!.GetValue<string>() + "/", body["prefix"]!.GetValue<string>() + "/");
    }

    [Fact]
    public async Task A_failure_names_its_step_and_exits_1()
    {
        using var workspace = new Workspace();
        // Nothing listens: the health step fails.
        var probe = new TcpListener(IPAddress.Loopback, 0);
        probe.Start();
        var closed = $"http://127.0.0.1:{((IPEndPoint)probe.LocalEndpoint).Port}";
        probe.Stop();
        var down = await RunScriptAsync(workspace.Environment(closed), "--images", workspace.Images, "--timeout", "5");
        Assert.Equal(1, down.ExitCode);
        Assert.Contains("FAILED at step 'health'", down.StdErr);

        // The image became an error row: the prediction step fails and says why.
        await using var api = new FakeApi { PredictionStatus = "Failed" };
        var failed = await RunScriptAsync(workspace.Environment(api.Url), "--images", workspace.Images, "--timeout", "30");
        Assert.Equal(1, failed.ExitCode);
        Assert.Contains("FAILED at step 'prediction'", failed.StdErr);
        Assert.Contains("Undecodable", failed.StdErr);
        Assert.DoesNotContain(api.Requests, r => r.StartsWith("POST", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Health_wakes_the_app_before_the_key_is_fetched()
    {
        using var workspace = new Workspace();
        await using var api = new FakeApi { SharedLog = workspace.AzLog };
        var environment = workspace.Environment(api.Url);
        environment.Remove("FUNCTION_KEY");
        var run = await RunScriptAsync(environment, "--images", workspace.Images, "--timeout", "30");
        Assert.True(run.ExitCode == 0, run.StdOut + run.StdErr);
        var log = File.ReadAllLines(workspace.AzLog).ToList();
        var wake = log.IndexOf("GET /api/health");
        var keys = log.FindIndex(l => l.StartsWith("containerapp function keys list -g rg-smoke -n func-api-smoke", StringComparison.Ordinal));
        Assert.True(wake >= 0 && keys > wake, string.Join("\n", log));
        Assert.True(log.IndexOf("GET /api/health/details") > keys);
    }

    [Fact]
    public async Task A_gpu_deployment_that_scored_on_the_cpu_fails_the_prediction_step()
    {
        using var workspace = new Workspace();
        await using var api = new FakeApi { ExecutionProvider = "cpu" };
        var run = await RunScriptAsync(workspace.Environment(api.Url), "--images", workspace.Images, "--timeout", "30");
        Assert.Equal(1, run.ExitCode);
        Assert.Contains("FAILED at step 'prediction'", run.StdErr);
        Assert.Contains("scored on 'cpu', not cuda (SCORING_PROFILE gpu-t4)", run.StdErr);

        // The cpu profile scores on the CPU by design.
        var environment = workspace.Environment(api.Url);
        environment["SCORING_PROFILE"] = "cpu";
        Assert.Equal(0, (await RunScriptAsync(environment, "--images", workspace.Images, "--timeout", "30")).ExitCode);
    }

    [Fact]
    public async Task Dead_letters_or_a_missing_alert_rule_fail_their_steps()
    {
        using var workspace = new Workspace();
        await using var api = new FakeApi();
        var environment = workspace.Environment(api.Url);
        environment["FAKE_DEAD_LETTERS"] = "3";
        var dead = await RunScriptAsync(environment, "--images", workspace.Images, "--timeout", "30");
        Assert.Equal(1, dead.ExitCode);
        Assert.Contains("FAILED at step 'deadletters': score-requests has 3 dead-lettered message(s): convnext-batch deadletters list score-requests --namespace sb-smoke", dead.StdErr);

        environment.Remove("FAKE_DEAD_LETTERS");
        environment["FAKE_NO_LOG_ALERTS"] = "1";
        var alerts = await RunScriptAsync(environment, "--images", workspace.Images, "--timeout", "30");
        Assert.Equal(1, alerts.ExitCode);
        Assert.Contains("FAILED at step 'alerts': alert rule 'scaler-errors' is missing", alerts.StdErr);
    }
}
