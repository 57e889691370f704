using System.Diagnostics;
using System.Globalization;
using System.Net.Http.Json;
using System.Text.Json;
using System.Text.RegularExpressions;
using ConvNeXt.Batch.Service.Local;

namespace ConvNeXt.Batch.Cli.Tests;

/// <summary>
/// <c>serve</c> (as the built binary) and <c>demo</c> with no storage configured: they start their own Azurite from the
/// repository's install, keep its data in <c>--azurite-data</c> between runs, and leave no emulator behind (SIGTERM included).
/// </summary>
public partial class LocalAzuriteTests(AttoModelFixture atto) : IClassFixture<AttoModelFixture>
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
            Assert.Contains($"  other commands reach it with --connection-string \"{first.ConnectionString}\"", serve.Error);
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
        var defaultPortsFree = !await AzuriteProcess.IsListeningAsync(10000) && !await AzuriteProcess.IsListeningAsync(10001)
            && !await AzuriteProcess.IsListeningAsync(10002);
        await using var serve = await ServeProcess.StartAsync(atto.ModelPath, ["--azurite-data", data]);
        if (defaultPortsAnswer)
        {
            Assert.Contains("storage: the Azurite already answering on 127.0.0.1:10000 (blob) and :10002 (table)", serve.Error);
            Assert.DoesNotContain("started Azurite", serve.Error);
        }
        else
        {
            var started = Parse(serve.Error);
            if (defaultPortsFree)
            {
                // On the default ports, so that `upload`, `results` … reach it without a connection string.
                Assert.Equal((10000, 10001, 10002), (started.Blob, started.Queue, started.Table));
                Assert.Contains("  other commands reach it without --connection-string (the default ports)", serve.Error);
                var runs = await ServeProcess.RunAsync(["results", "runs"]);
                Assert.True(runs.ExitCode == 0, runs.ToString());
            }
            else
            {
                Assert.Contains("  other commands reach it with --connection-string ", serve.Error);
            }
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

    [Fact]
    public async Task Demo_without_storage_starts_azurite_and_stops_it_when_done()
    {
        Repository.RequireShared();
        var data = CliRunner.TempDirectory();
        var work = CliRunner.TempDirectory();
        var result = await CliRunner.RunAsync("demo", "--images", work, "--count", "4", "--model", atto.ModelPath, "--work-dir", work,
            "--azurite", "on", "--azurite-data", data);
        Assert.True(result.ExitCode == 0, result.ToString());
        var started = Parse(result.Error);
        Assert.Equal(Path.GetFullPath(data), started.Data);
        // The printed `results` commands ran against the started Azurite.
        Assert.Contains("4 rows", result.Out);
        Assert.Contains("Completed", result.Out);
        Assert.Contains($"The results are kept in {Path.GetFullPath(data)}: ", result.Out);
        Assert.False(IsRunning(started.Pid), $"Azurite (pid {started.Pid}) still runs after demo ended");
        Assert.False(await AzuriteProcess.IsListeningAsync(started.Blob));
    }
}
