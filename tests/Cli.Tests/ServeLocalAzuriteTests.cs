using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using System.Text.RegularExpressions;
using ConvNeXt.Batch.Service.Local;

namespace ConvNeXt.Batch.Cli.Tests;

/// <summary>
/// <c>serve</c> as a process (the built binary), storage from nowhere: it starts its own Azurite from the repository's
/// install, keeps its data in <c>--azurite-data</c> between runs, and leaves no emulator behind on SIGTERM.
/// </summary>
public partial class ServeLocalAzuriteTests(AttoModelFixture atto) : IClassFixture<AttoModelFixture>
{
    [GeneratedRegex(@"^storage: started Azurite \(pid (\d+)\) on 127\.0\.0\.1, blob (\d+), queue (\d+), table (\d+); data in (.+) \(log azurite\.log\); it stops with this command$", RegexOptions.Multiline)]
    private static partial Regex StartedLine();

    private sealed record Started(int Pid, int Blob, int Queue, int Table, string Data)
    {
        public string ConnectionString => AzuriteProcess.ConnectionStringFor(Blob, Queue, Table);
    }

    private static Started Parse(string error)
    {
        var m = StartedLine().Match(error);
        Assert.True(m.Success, "no 'started Azurite' line in:\n" + error);
        int N(int i) => int.Parse(m.Groups[i].Value, CultureInfo.InvariantCulture);
        return new Started(N(1), N(2), N(3), N(4), m.Groups[5].Value);
    }

    private static bool IsRunning(int pid)
    {
        try
        {
            using var process = Process.GetProcessById(pid);
            return !process.HasExited;
        }
        catch (ArgumentException)
        {
            return false;
        }
    }

    [Fact]
    public async Task Serve_without_storage_starts_azurite_keeps_results_across_restarts_and_stops_it_on_sigterm()
    {
        Repository.RequireShared();
        var data = CliRunner.TempDirectory();
        var image = CliRunner.TempDirectory();
        File.Copy(Path.Combine(Repository.ImagenetSamples, "n01440764_tench.JPEG"), Path.Combine(image, "tench.JPEG"));

        Started first;
        string? scoredAt;
        await using (var serve = await ServeProcess.StartAsync(atto.ModelPath, ["--azurite", "on", "--azurite-data", data, "--watch", "--interval", "0.2"]))
        {
            first = Parse(serve.Error);
            Assert.Equal(Path.GetFullPath(data), first.Data);
            Assert.True(IsRunning(first.Pid), serve.Error);
            var health = await serve.Http.GetFromJsonAsync<JsonElement>("/api/health/details");
            Assert.Equal("Healthy", health.GetProperty("status").GetString());
            Assert.Equal(("reachable", "reachable"),
                (health.GetProperty("storage").GetProperty("blob").GetString(), health.GetProperty("storage").GetProperty("table").GetString()));

            // A second command over the same folder would corrupt the emulator's database: refused in one line.
            var second = await CliRunner.RunAsync("serve", "--port", AzuriteProcess.FreePort().ToString(CultureInfo.InvariantCulture),
                "--model", atto.ModelPath, "--azurite", "on", "--azurite-data", data);
            Assert.True(second.ExitCode == 1, second.ToString());
            Assert.StartsWith($"error: the Azurite data folder {Path.GetFullPath(data)} is in use by another convnext-batch command", Assert.Single(second.ErrorLines));

            // `upload` to the started Azurite; the watch scores it into Predictions.
            await CliRunner.RunOkAsync("upload", image, "--connection-string", first.ConnectionString, "--quiet");
            var scored = await serve.WaitForPredictionAsync("images", "tench.JPEG");
            Assert.Equal("Scored", scored.GetProperty("status").GetString());
            scoredAt = scored.GetProperty("scoredAt").GetString();

            Assert.Equal(0, await serve.TerminateAsync());
            Assert.Contains("stopping", serve.Error);
        }
        Assert.False(IsRunning(first.Pid), $"Azurite (pid {first.Pid}) still runs after serve stopped");
        foreach (var port in new[] { first.Blob, first.Queue, first.Table })
            Assert.False(await AzuriteProcess.IsListeningAsync(port), $"port {port} still answers after serve stopped");
        // Azurite's own output went to its log, not to serve's console.
        Assert.Contains("successfully listening", await File.ReadAllTextAsync(Path.Combine(data, "azurite.log")));

        // The same folder again: another emulator process, the blob and the row still there.
        await using (var serve = await ServeProcess.StartAsync(atto.ModelPath, ["--azurite-data", data, "--azurite", "on"]))
        {
            var again = Parse(serve.Error);
            Assert.NotEqual(first.Pid, again.Pid);
            Assert.DoesNotContain("successfully listening", serve.Error + serve.Output);
            var row = await serve.Http.GetFromJsonAsync<JsonElement>("/api/predictions/images/tench.JPEG");
            Assert.Equal(("Scored", scoredAt, 5),
                (row.GetProperty("status").GetString(), row.GetProperty("scoredAt").GetString(), row.GetProperty("top").GetArrayLength()));
            Assert.Equal(0, await serve.TerminateAsync());
            Assert.False(IsRunning(again.Pid), $"Azurite (pid {again.Pid}) still runs after serve stopped");
        }
    }

    /// <summary>The default (<c>--azurite auto</c>): an Azurite on the default ports is used as before; none there, serve starts one.</summary>
    [Fact]
    public async Task Serve_by_default_uses_the_azurite_on_the_default_ports_or_starts_one()
    {
        Repository.RequireShared();
        var data = CliRunner.TempDirectory();
        var defaultPortsAnswer = await AzuriteProcess.IsListeningAsync(10000) && await AzuriteProcess.IsListeningAsync(10002);
        await using var serve = await ServeProcess.StartAsync(atto.ModelPath, ["--azurite-data", data]);
        if (defaultPortsAnswer)
        {
            Assert.Contains("storage: the Azurite already answering on 127.0.0.1:10000 (blob) and :10002 (table)", serve.Error);
            Assert.DoesNotContain("started Azurite", serve.Error);
        }
        else
        {
            var started = Parse(serve.Error);
            Assert.Equal(0, await serve.TerminateAsync());
            Assert.False(IsRunning(started.Pid));
        }
    }

    [Fact]
    public async Task Without_an_azurite_install_serve_says_how_to_install_one_in_one_line()
    {
        var empty = CliRunner.TempDirectory();
        var (code, _, error) = await ServeProcess.RunAsync(["serve", "--model", atto.ModelPath, "--azurite", "on"],
            new Dictionary<string, string?> { [AzuriteInstall.PathVariable] = empty });
        Assert.Equal(2, code);
        var line = Assert.Single(error.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        Assert.StartsWith($"error: ${AzuriteInstall.PathVariable}={empty} is not the azurite command nor a folder holding it: "
            + "install it with 'npm ci --prefix tools/azurite' in the repository or 'npm i -g azurite'", line);
    }

    [Fact]
    public async Task Azurite_on_with_a_connection_string_is_a_usage_error()
    {
        var result = await CliRunner.RunAsync("serve", "--model", atto.ModelPath, "--azurite", "on", "--connection-string", "UseDevelopmentStorage=true");
        Assert.True(result.ExitCode == 2, result.ToString());
        Assert.StartsWith("error: --azurite on starts a private Azurite, but storage is configured by --connection-string", Assert.Single(result.ErrorLines));
        var unknown = await CliRunner.RunAsync("serve", "--model", atto.ModelPath, "--azurite", "maybe");
        Assert.Equal(2, unknown.ExitCode);
    }
}

/// <summary><c>convnext-batch</c> run as the built binary, with storage settings taken out of its environment.</summary>
internal sealed class ServeProcess : IAsyncDisposable
{
    private readonly Process _process;
    private readonly StringBuilder _error = new();
    private readonly StringBuilder _output = new();

    private ServeProcess(Process process, int port)
    {
        _process = process;
        Http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{port}") };
        _process.ErrorDataReceived += (_, e) => { lock (_error) _error.AppendLine(e.Data); };
        _process.OutputDataReceived += (_, e) => { lock (_output) _output.AppendLine(e.Data); };
        _process.BeginErrorReadLine();
        _process.BeginOutputReadLine();
    }

    public HttpClient Http { get; }

    public string Error { get { lock (_error) return _error.ToString(); } }

    public string Output { get { lock (_output) return _output.ToString(); } }

    private static ProcessStartInfo StartInfo(IEnumerable<string> args, IReadOnlyDictionary<string, string?>? environment)
    {
        var start = new ProcessStartInfo("dotnet") { RedirectStandardError = true, RedirectStandardOutput = true, UseShellExecute = false };
        start.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "convnext-batch.dll"));
        foreach (var a in args)
            start.ArgumentList.Add(a);
        // A developer's own settings must not decide where storage is.
        foreach (var name in new[] { "Storage__ConnectionString", "Storage__BlobServiceUri", "Storage__TableServiceUri", AzuriteInstall.PathVariable })
            start.Environment.Remove(name);
        foreach (var (name, value) in environment ?? new Dictionary<string, string?>())
            start.Environment[name] = value;
        return start;
    }

    /// <summary>Runs a command to its end.</summary>
    public static async Task<CliResult> RunAsync(IEnumerable<string> args, IReadOnlyDictionary<string, string?>? environment = null)
    {
        using var process = Process.Start(StartInfo(args, environment))!;
        var output = process.StandardOutput.ReadToEndAsync();
        var error = process.StandardError.ReadToEndAsync();
        using var guard = new CancellationTokenSource(TimeSpan.FromSeconds(120));
        await process.WaitForExitAsync(guard.Token);
        return new CliResult(process.ExitCode, await output, await error);
    }

    /// <summary>Starts <c>serve</c> on a free port and waits until <c>/api/health</c> answers.</summary>
    public static async Task<ServeProcess> StartAsync(string model, IEnumerable<string> extra, IReadOnlyDictionary<string, string?>? environment = null)
    {
        var port = AzuriteProcess.FreePort();
        string[] args = ["serve", "--port", port.ToString(CultureInfo.InvariantCulture), "--model", model, .. extra];
        var serve = new ServeProcess(Process.Start(StartInfo(args, environment))!, port);
        for (var i = 0; i < 1200 && !serve._process.HasExited; i++)
        {
            try
            {
                if ((await serve.Http.GetAsync("/api/health")).StatusCode == HttpStatusCode.OK)
                    return serve;
            }
            catch (HttpRequestException)
            {
            }
            await Task.Delay(100);
        }
        var error = serve.Error;
        await serve.DisposeAsync();
        throw new InvalidOperationException("serve did not answer /api/health: " + error);
    }

    public async Task<JsonElement> WaitForPredictionAsync(string container, string blob)
    {
        for (var i = 0; i < 600; i++)
        {
            var response = await Http.GetAsync($"/api/predictions/{container}/{blob}");
            if (response.StatusCode == HttpStatusCode.OK)
                return await response.Content.ReadFromJsonAsync<JsonElement>();
            await Task.Delay(100);
        }
        throw new TimeoutException($"no prediction for {container}/{blob}: {Error}");
    }

    /// <summary>SIGTERM, as kill or docker stop send it; the exit code.</summary>
    public async Task<int> TerminateAsync()
    {
        using (var kill = Process.Start("kill", ["-TERM", _process.Id.ToString(CultureInfo.InvariantCulture)]))
            await kill.WaitForExitAsync();
        // A guard against hanging the test run, not a speed requirement.
        using var guard = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        await _process.WaitForExitAsync(guard.Token);
        // The last lines arrive after the exit.
        _process.WaitForExit();
        return _process.ExitCode;
    }

    public async ValueTask DisposeAsync()
    {
        if (!_process.HasExited)
        {
            _process.Kill(entireProcessTree: true);
            await _process.WaitForExitAsync();
        }
        _process.Dispose();
        Http.Dispose();
    }
}
