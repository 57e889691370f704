using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net.WebSockets;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Xunit;

namespace ConvNeXt.Batch.TestSupport;

/// <summary>What loading a page in the browser gave: the value of the DOM probe, console and network findings, the screenshot.</summary>
public sealed record BrowserPage(JsonNode Probe, IReadOnlyList<string> ConsoleErrors, IReadOnlyList<string> RequestedUrls, string ScreenshotPath);

/// <summary>
/// Headless Chromium (Debian's <c>chromium</c> package, installed by <c>scripts/setup.sh</c>) driven over the
/// Chrome DevTools Protocol: load a page, collect console errors, failed loads and every requested URL,
/// evaluate a DOM probe, save a screenshot.
/// </summary>
public sealed class HeadlessChromium : IAsyncDisposable
{
    private readonly Process _process;
    private readonly string _profile;
    private readonly ClientWebSocket _socket = new();
    private readonly ConcurrentDictionary<int, TaskCompletionSource<JsonNode>> _pending = new();
    private readonly ConcurrentQueue<JsonNode> _events = new();
    private readonly CancellationTokenSource _stop = new();
    private readonly SemaphoreSlim _send = new(1, 1);
    private Task _receive = Task.CompletedTask;
    private int _nextId;

    private HeadlessChromium(Process process, string profile)
    {
        _process = process;
        _profile = profile;
    }

    /// <summary>The browser executable, or null when none is installed.</summary>
    public static string? Executable { get; } = Find();

    /// <summary>
    /// Null when the browser tests can run. When the browser is missing they still run (and fail, naming the
    /// fix) in CI or as root, where scripts/setup.sh installs it; only a non-root machine that cannot install it skips.
    /// </summary>
    public static string? SkipReason =>
        Executable is not null || Environment.GetEnvironmentVariable("CI") is { Length: > 0 } || Environment.UserName == "root"
            ? null
            : "chromium is not installed and this user is not root, so scripts/setup.sh cannot install it: `sudo apt-get install chromium` to run the browser tests";

    public static async Task<HeadlessChromium> StartAsync()
    {
        if (Executable is null)
            throw new InvalidOperationException("chromium not found on PATH: run scripts/setup.sh (installs Debian's chromium package with apt-get)");
        var profile = Path.Combine(Path.GetTempPath(), "chromium-test-" + Guid.NewGuid().ToString("N")[..8]);
        var start = new ProcessStartInfo(Executable)
        {
            RedirectStandardError = true, RedirectStandardOutput = true, UseShellExecute = false,
            ArgumentList =
            {
                "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--remote-debugging-port=0",
                "--user-data-dir=" + profile, "--no-first-run", "--no-default-browser-check", "--disable-extensions",
                "--disable-background-networking", "--disable-component-update", "--disable-sync", "--mute-audio",
                "--hide-scrollbars", "--allow-file-access-from-files", "about:blank",
            },
        };
        var process = Process.Start(start) ?? throw new InvalidOperationException("could not start chromium");
        var browser = new HeadlessChromium(process, profile);
        var endpoint = new TaskCompletionSource<string>(TaskCreationOptions.RunContinuationsAsynchronously);
        var log = new StringBuilder();
        process.ErrorDataReceived += (_, e) =>
        {
            if (e.Data is null)
                return;
            lock (log) log.AppendLine(e.Data);
            const string marker = "DevTools listening on ";
            var at = e.Data.IndexOf(marker, StringComparison.Ordinal);
            if (at >= 0)
                endpoint.TrySetResult(e.Data[(at + marker.Length)..].Trim());
        };
        process.OutputDataReceived += (_, _) => { };
        process.BeginErrorReadLine();
        process.BeginOutputReadLine();
        var done = await Task.WhenAny(endpoint.Task, Task.Delay(TimeSpan.FromSeconds(60)));
        if (done != endpoint.Task)
        {
            await browser.DisposeAsync();
            lock (log) throw new InvalidOperationException("chromium did not open its DevTools endpoint within 60 s:\n" + log);
        }
        await browser._socket.ConnectAsync(new Uri(endpoint.Task.Result), CancellationToken.None);
        browser._receive = Task.Run(browser.ReceiveLoopAsync);
        return browser;
    }

    /// <summary>
    /// Opens <paramref name="url"/> in a new tab of <paramref name="width"/> CSS pixels, waits for the load event,
    /// evaluates <paramref name="probe"/> (a JavaScript expression whose value is JSON-serializable) and saves a
    /// full-page PNG to <paramref name="screenshotPath"/> (height capped at <paramref name="maxHeight"/>, scaled by <paramref name="scale"/>).
    /// </summary>
    /// <param name="previewPath">Also saves the top of the page, scaled to 60 %, here (the small images in docs/).</param>
    public async Task<BrowserPage> LoadAsync(string url, string probe, string screenshotPath, int width = 1200, int maxHeight = 6000, double scale = 1,
        string? previewPath = null)
    {
        var target = await CallAsync("Target.createTarget", new JsonObject { ["url"] = "about:blank" });
        var attached = await CallAsync("Target.attachToTarget", new JsonObject { ["targetId"] = target["targetId"]!.GetValue<string>(), ["flatten"] = true });
        var session = attached["sessionId"]!.GetValue<string>();
        while (_events.TryDequeue(out _)) { }
        foreach (var domain in new[] { "Page.enable", "Runtime.enable", "Log.enable", "Network.enable" })
            await CallAsync(domain, new JsonObject(), session);
        await CallAsync("Emulation.setDeviceMetricsOverride", new JsonObject { ["width"] = width, ["height"] = 900, ["deviceScaleFactor"] = 1, ["mobile"] = false }, session);
        var seen = new List<JsonNode>();
        await CallAsync("Page.navigate", new JsonObject { ["url"] = url }, session);
        await WaitForEventAsync("Page.loadEventFired", session, seen, TimeSpan.FromSeconds(60));
        await Task.Delay(300); // late console messages of the load
        var value = await CallAsync("Runtime.evaluate", new JsonObject { ["expression"] = $"JSON.stringify({probe})", ["returnByValue"] = true }, session);
        if (value["exceptionDetails"] is { } exception)
            throw new InvalidOperationException("probe threw: " + exception.ToJsonString());
        var probeResult = JsonNode.Parse(value["result"]!["value"]!.GetValue<string>())!;

        var metrics = await CallAsync("Page.getLayoutMetrics", new JsonObject(), session);
        var height = Math.Min(maxHeight, (int)Math.Ceiling(metrics["cssContentSize"]!["height"]!.GetValue<double>()));
        await CallAsync("Emulation.setDeviceMetricsOverride", new JsonObject { ["width"] = width, ["height"] = height, ["deviceScaleFactor"] = 1, ["mobile"] = false }, session);
        var shot = await CallAsync("Page.captureScreenshot", new JsonObject
        {
            ["format"] = "png",
            ["clip"] = new JsonObject { ["x"] = 0, ["y"] = 0, ["width"] = width, ["height"] = height, ["scale"] = scale },
        }, session);
        Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(screenshotPath))!);
        await File.WriteAllBytesAsync(screenshotPath, Convert.FromBase64String(shot["data"]!.GetValue<string>()));
        if (previewPath is not null)
        {
            var preview = await CallAsync("Page.captureScreenshot", new JsonObject
            {
                ["format"] = "png",
                ["clip"] = new JsonObject { ["x"] = 0, ["y"] = 0, ["width"] = width, ["height"] = Math.Min(height, 1800), ["scale"] = 0.6 },
            }, session);
            await File.WriteAllBytesAsync(previewPath, Convert.FromBase64String(preview["data"]!.GetValue<string>()));
        }

        while (_events.TryDequeue(out var e))
            seen.Add(e);
        var mine = seen.Where(e => e["sessionId"]?.GetValue<string>() == session).ToList();
        var errors = new List<string>();
        foreach (var e in mine)
        {
            var method = e["method"]!.GetValue<string>();
            var p = e["params"]!;
            if (method == "Runtime.consoleAPICalled" && p["type"]!.GetValue<string>() is "error" or "assert")
                errors.Add("console." + p["type"] + ": " + p["args"]!.ToJsonString());
            else if (method == "Runtime.exceptionThrown")
                errors.Add("exception: " + p["exceptionDetails"]!.ToJsonString());
            else if (method == "Log.entryAdded" && p["entry"]!["level"]!.GetValue<string>() == "error")
                errors.Add($"{p["entry"]!["source"]}: {p["entry"]!["text"]} {p["entry"]!["url"]}");
            else if (method == "Network.loadingFailed")
                errors.Add($"load failed: {p["errorText"]} ({p["requestId"]})");
        }
        var urls = mine.Where(e => e["method"]!.GetValue<string>() == "Network.requestWillBeSent")
            .Select(e => e["params"]!["request"]!["url"]!.GetValue<string>()).ToList();
        await CallAsync("Target.closeTarget", new JsonObject { ["targetId"] = target["targetId"]!.GetValue<string>() });
        return new BrowserPage(probeResult, errors, urls, screenshotPath);
    }

    private async Task WaitForEventAsync(string method, string session, List<JsonNode> seen, TimeSpan timeout)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (DateTime.UtcNow < deadline)
        {
            while (_events.TryDequeue(out var e))
            {
                seen.Add(e);
                if (e["method"]?.GetValue<string>() == method && e["sessionId"]?.GetValue<string>() == session)
                    return;
            }
            await Task.Delay(25);
        }
        throw new TimeoutException($"chromium: no {method} within {timeout.TotalSeconds} s");
    }

    private async Task<JsonNode> CallAsync(string method, JsonObject parameters, string? session = null)
    {
        var id = Interlocked.Increment(ref _nextId);
        var message = new JsonObject { ["id"] = id, ["method"] = method, ["params"] = parameters };
        if (session is not null)
            message["sessionId"] = session;
        var reply = new TaskCompletionSource<JsonNode>(TaskCreationOptions.RunContinuationsAsynchronously);
        _pending[id] = reply;
        await _send.WaitAsync();
        try
        {
            await _socket.SendAsync(Encoding.UTF8.GetBytes(message.ToJsonString()), WebSocketMessageType.Text, true, CancellationToken.None);
        }
        finally
        {
            _send.Release();
        }
        var done = await Task.WhenAny(reply.Task, Task.Delay(TimeSpan.FromSeconds(60)));
        if (done != reply.Task)
            throw new TimeoutException($"chromium: no answer to {method} within 60 s");
        var answer = await reply.Task;
        if (answer["error"] is { } error)
            throw new InvalidOperationException($"chromium: {method} failed: {error.ToJsonString()}");
        return answer["result"] ?? new JsonObject();
    }

    private async Task ReceiveLoopAsync()
    {
        var buffer = new byte[1 << 16];
        var message = new MemoryStream();
        try
        {
            while (!_stop.IsCancellationRequested && _socket.State == WebSocketState.Open)
            {
                var received = await _socket.ReceiveAsync(buffer, _stop.Token);
                if (received.MessageType == WebSocketMessageType.Close)
                    break;
                message.Write(buffer, 0, received.Count);
                if (!received.EndOfMessage)
                    continue;
                var node = JsonNode.Parse(message.ToArray())!;
                message.SetLength(0);
                if (node["id"] is { } id && _pending.TryRemove(id.GetValue<int>(), out var waiter))
                    waiter.TrySetResult(node);
                else if (node["method"] is not null)
                    _events.Enqueue(node);
            }
        }
        catch (Exception e) when (e is OperationCanceledException or WebSocketException)
        {
        }
        foreach (var waiter in _pending.Values)
            waiter.TrySetException(new InvalidOperationException("chromium closed the DevTools connection"));
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        try
        {
            if (_socket.State == WebSocketState.Open)
                await _socket.CloseOutputAsync(WebSocketCloseStatus.NormalClosure, null, CancellationToken.None);
        }
        catch (WebSocketException)
        {
        }
        _socket.Dispose();
        try
        {
            await _receive;
        }
        catch (Exception e) when (e is OperationCanceledException or WebSocketException)
        {
        }
        if (!_process.HasExited)
        {
            _process.Kill(entireProcessTree: true);
            await _process.WaitForExitAsync();
        }
        _process.Dispose();
        try
        {
            Directory.Delete(_profile, recursive: true);
        }
        catch (IOException)
        {
        }
        catch (UnauthorizedAccessException)
        {
        }
    }

    private static string? Find()
    {
        if (Environment.GetEnvironmentVariable("CHROMIUM_PATH") is { Length: > 0 } configured && File.Exists(configured))
            return configured;
        foreach (var dir in (Environment.GetEnvironmentVariable("PATH") ?? "").Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries))
            foreach (var name in new[] { "chromium", "chromium-browser", "google-chrome", "google-chrome-stable" })
                if (File.Exists(Path.Combine(dir, name)))
                    return Path.Combine(dir, name);
        return null;
    }
}

/// <summary>A test that needs the headless browser: skipped, with the reason, only where it cannot be installed (see <see cref="HeadlessChromium.SkipReason"/>).</summary>
public sealed class BrowserFactAttribute : FactAttribute
{
    public BrowserFactAttribute()
    {
        if (HeadlessChromium.SkipReason is { } reason)
            Skip = reason;
    }
}
