using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using ConvNeXt.Batch.Service.Local;

namespace ConvNeXt.Batch.Cli.Tests;

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
