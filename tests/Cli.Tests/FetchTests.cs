using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Text.Json;

namespace ConvNeXt.Batch.Cli.Tests;

/// <summary>
/// A loopback HTTP server (HttpListener on 127.0.0.1) serving one file at any path, honouring
/// Range requests; it can be told to cut the connection half-way through the next response.
/// </summary>
public sealed class LoopbackFileServer : IDisposable
{
    private readonly HttpListener _listener = new();
    private readonly byte[] _content;
    private readonly Task _loop;

    public LoopbackFileServer(byte[] content)
    {
        _content = content;
        var port = FreePort();
        BaseUrl = $"http://127.0.0.1:{port}/";
        _listener.Prefixes.Add(BaseUrl);
        _listener.Start();
        _loop = Task.Run(ServeAsync);
    }

    public string BaseUrl { get; }
    public ConcurrentQueue<(string Path, string? Range)> Requests { get; } = new();
    public volatile bool CutNextResponse;

    private async Task ServeAsync()
    {
        while (_listener.IsListening)
        {
            HttpListenerContext context;
            try { context = await _listener.GetContextAsync(); }
            catch (Exception) { return; }
            try
            {
                var range = context.Request.Headers["Range"];
                Requests.Enqueue((context.Request.Url!.AbsolutePath, range));
                long start = 0;
                if (range is not null && range.StartsWith("bytes=", StringComparison.Ordinal))
                    start = long.Parse(range["bytes=".Length..].TrimEnd('-'));
                var response = context.Response;
                if (start > 0)
                {
                    response.StatusCode = 206;
                    response.Headers["Content-Range"] = $"bytes {start}-{_content.Length - 1}/{_content.Length}";
                }
                response.ContentLength64 = _content.Length - start;
                if (CutNextResponse)
                {
                    CutNextResponse = false;
                    await response.OutputStream.WriteAsync(_content.AsMemory((int)start, (_content.Length - (int)start) / 2));
                    await response.OutputStream.FlushAsync();
                    response.Abort(); // the client sees a connection reset before Content-Length bytes
                    continue;
                }
                await response.OutputStream.WriteAsync(_content.AsMemory((int)start));
                response.Close();
            }
            catch (Exception) when (!_listener.IsListening) { return; }
            catch (HttpListenerException) { }
        }
    }

    public static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    public void Dispose()
    {
        _listener.Stop();
        _listener.Close();
    }
}

public class FetchTests
{
    // Real atto shapes: fetch checks that the file holds the model it was asked for.
    private static readonly string Weights = Repository.Reference("golden-atto", "timm.safetensors");

    private static string Sha256(byte[] bytes) => Convert.ToHexStringLower(SHA256.HashData(bytes));

    [Fact]
    public async Task Fetch_downloads_verifies_and_builds_a_trained_model()
    {
        Repository.RequireShared();
        var content = await File.ReadAllBytesAsync(Weights);
        using var server = new LoopbackFileServer(content);
        var dir = CliRunner.TempDirectory();
        var output = Path.Combine(dir, "fetched.onnx");

        var result = await CliRunner.RunOkAsync("model", "fetch", "atto", "--base-url", server.BaseUrl, "--sha256", Sha256(content),
            "--cache-dir", Path.Combine(dir, "cache"), "--output", output);

        Assert.Equal("/timm/convnext_atto.d2_in1k/resolve/main/model.safetensors", Assert.Single(server.Requests).Path);
        Assert.Equal(content, await File.ReadAllBytesAsync(Path.Combine(dir, "cache", "convnext_atto.d2_in1k.safetensors")));
        var info = JsonDocument.Parse((await CliRunner.RunOkAsync("model", "inspect", output, "--json")).Out).RootElement;
        Assert.True(info.GetProperty("trained").GetBoolean());
        Assert.Equal("timm", info.GetProperty("weights_format").GetString());
        Assert.Contains(Sha256(content), result.Error);

        // A second fetch finds the verified file and downloads nothing.
        await CliRunner.RunOkAsync("model", "fetch", "atto", "--base-url", server.BaseUrl, "--sha256", Sha256(content),
            "--cache-dir", Path.Combine(dir, "cache"), "--no-build");
        Assert.Single(server.Requests);
        Directory.Delete(dir, true);
    }

    [Fact]
    public async Task An_interrupted_download_resumes_with_a_range_request()
    {
        Repository.RequireShared();
        var content = await File.ReadAllBytesAsync(Weights);
        using var server = new LoopbackFileServer(content) { CutNextResponse = true };
        var dir = CliRunner.TempDirectory();
        var cache = Path.Combine(dir, "cache");
        string[] args = ["model", "fetch", "atto", "--base-url", server.BaseUrl, "--sha256", Sha256(content), "--cache-dir", cache, "--no-build"];

        var first = await CliRunner.RunAsync(args);
        Assert.True(first.ExitCode == 1, first.ToString());
        Assert.Single(first.ErrorLines, l => l.StartsWith("error:"));
        var part = Path.Combine(cache, "convnext_atto.d2_in1k.safetensors.part");
        Assert.True(File.Exists(part));
        var partial = new FileInfo(part).Length;
        Assert.InRange(partial, 1, content.Length - 1);

        var second = await CliRunner.RunOkAsync(args);
        Assert.Contains("resumed", second.Error);
        var requests = server.Requests.ToArray();
        Assert.Equal(2, requests.Length);
        Assert.Null(requests[0].Range);
        Assert.Equal($"bytes={partial}-", requests[1].Range);
        Assert.Equal(content, await File.ReadAllBytesAsync(Path.Combine(cache, "convnext_atto.d2_in1k.safetensors")));
        Assert.False(File.Exists(part));
        Directory.Delete(dir, true);
    }

    [Fact]
    public async Task A_sha256_mismatch_is_rejected_and_nothing_is_kept()
    {
        Repository.RequireShared();
        var content = await File.ReadAllBytesAsync(Weights);
        using var server = new LoopbackFileServer(content);
        var dir = CliRunner.TempDirectory();
        var cache = Path.Combine(dir, "cache");
        var output = Path.Combine(dir, "x.onnx");

        var result = await CliRunner.RunAsync("model", "fetch", "atto", "--base-url", server.BaseUrl, "--sha256", new string('0', 64),
            "--cache-dir", cache, "--output", output);

        Assert.True(result.ExitCode == 1, result.ToString());
        var error = Assert.Single(result.ErrorLines, l => l.StartsWith("error:"));
        Assert.Contains("sha256 mismatch", error);
        Assert.Empty(Directory.GetFiles(cache));
        Assert.False(File.Exists(output));
        Directory.Delete(dir, true);
    }

    [Fact]
    public async Task Offline_fetch_fails_with_a_clear_error()
    {
        var dir = CliRunner.TempDirectory();
        var closed = $"http://127.0.0.1:{LoopbackFileServer.FreePort()}/";
        var result = await CliRunner.RunAsync("model", "fetch", "tiny", "--source", "mindcv", "--base-url", closed, "--cache-dir", dir);
        Assert.True(result.ExitCode == 1, result.ToString());
        var error = Assert.Single(result.ErrorLines, l => l.StartsWith("error:"));
        Assert.Contains("cannot download", error);
        Assert.Contains("toolkits/mindcv/convnext/convnext_tiny-ae5ff8d7.ckpt", error);
        Assert.Contains("--weights", error);
        Directory.Delete(dir, true);
    }

    [Theory]
    [InlineData("inception_next_tiny", "/timm/inception_next_tiny.sail_in1k/resolve/main/model.safetensors")]
    [InlineData("inception_next_base.sail_in1k_384", "/timm/inception_next_base.sail_in1k_384/resolve/main/model.safetensors")]
    public async Task Fetch_knows_inception_next_and_says_the_download_is_unpinned(string name, string expectedPath)
    {
        Repository.RequireShared();
        var content = await File.ReadAllBytesAsync(Repository.Reference("golden-inceptionnext-mini", "timm.safetensors"));
        using var server = new LoopbackFileServer(content);
        var dir = CliRunner.TempDirectory();

        var result = await CliRunner.RunOkAsync("model", "fetch", name, "--base-url", server.BaseUrl,
            "--cache-dir", Path.Combine(dir, "cache"), "--no-build");

        Assert.Equal(expectedPath, Assert.Single(server.Requests).Path);
        var warning = Assert.Single(result.ErrorLines, l => l.Contains("UNPINNED", StringComparison.Ordinal));
        Assert.Contains($"--sha256 {Sha256(content)}", warning);
        Assert.Equal(content, await File.ReadAllBytesAsync(result.Out.Trim()));

        // Unpinned, the file is at least checked to be the model asked for before anything is built.
        var build = await CliRunner.RunAsync("model", "fetch", name, "--base-url", server.BaseUrl,
            "--cache-dir", Path.Combine(dir, "cache"), "--output", Path.Combine(dir, "x.onnx"));
        Assert.Equal(1, build.ExitCode);
        Assert.Contains("was requested", Assert.Single(build.ErrorLines, l => l.StartsWith("error:")));
        Assert.False(File.Exists(Path.Combine(dir, "x.onnx")));
        Directory.Delete(dir, true);
    }

    [Fact]
    public void Catalog_pins_what_can_be_pinned_and_lists_every_model()
    {
        var all = Fetching.PublishedWeightsCatalog.All;
        Assert.Equal(9 + 4 + 3, all.Count);
        Assert.Equal(all.Count, all.Select(w => (w.Model, w.Source)).Distinct().Count());
        Assert.All(all.Where(w => w.Source == Fetching.WeightsSource.MindCv), w => Assert.Matches("^[0-9a-f]{8}$", w.Sha256!));
        Assert.Equal("inception_next_base_384", Fetching.PublishedWeightsCatalog.Find("inception_next_base.sail_in1k_384", Fetching.WeightsSource.Timm)!.Model);
        Assert.Equal("convnext_tiny", Fetching.PublishedWeightsCatalog.Find("tiny", Fetching.WeightsSource.Timm)!.Model);
        Assert.Null(Fetching.PublishedWeightsCatalog.Find("inception_next_tiny", Fetching.WeightsSource.MindCv));
    }
}
