using System.Net;
using System.Net.Sockets;
using ConvNeXt.Batch.Cli.Serving;
using ConvNeXt.Batch.Service.Contracts;
using ConvNeXt.Batch.Service.Messaging;
using ConvNeXt.Batch.Service.Services;
using ConvNeXt.Batch.Service.Validation;

namespace ConvNeXt.Batch.Cli.Tests;

/// <summary><c>serve</c> as a host of the shared composition root, API map and redelivery policy.</summary>
[Collection(AzuriteCollection.Name)]
public class ServeApiSurfaceTests(AzuriteFixture azurite, AttoModelFixture atto) : IClassFixture<AttoModelFixture>
{
    [Fact]
    public async Task A_bad_setting_fails_serve_before_it_listens_naming_the_setting()
    {
        Repository.RequireShared();
        var result = await CliRunner.RunAsync("serve", "--port", "1", "--model", atto.ModelPath, "--connection-string", azurite.ConnectionString,
            "--validation-container", "Not_A_Container");
        Assert.Equal(2, result.ExitCode);
        Assert.Contains("ValidationDefaults__Container", result.Error, StringComparison.Ordinal);
        Assert.DoesNotContain("serving the API", result.Error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Serve_answers_the_shared_probes_as_the_handler_does()
    {
        Repository.RequireShared();
        int port;
        using (var listener = new TcpListener(IPAddress.Loopback, 0))
        {
            listener.Start();
            port = ((IPEndPoint)listener.LocalEndpoint).Port;
        }
        using var stop = new CancellationTokenSource();
        var output = new StringWriter();
        var error = new StringWriter();
        string[] args = ["serve", "--port", port.ToString(System.Globalization.CultureInfo.InvariantCulture), "--model", atto.ModelPath,
            "--connection-string", azurite.ConnectionString];
        var run = Task.Run(() => Program.InvokeAsync(args, output, error, stop.Token));
        using var http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{port}") };
        try
        {
            for (var i = 0; ; i++)
            {
                Assert.False(run.IsCompleted, "serve exited early: " + error);
                try
                {
                    if ((await http.GetAsync("/api/health")).StatusCode == HttpStatusCode.OK)
                        break;
                }
                catch (HttpRequestException) when (i < 300)
                {
                }
                await Task.Delay(100);
            }
            Assert.Equal(ApiProbes.Expected, await ApiProbes.SendAsync(http));
        }
        finally
        {
            await stop.CancelAsync();
            await run;
        }
    }

    private static ValidationChunkMessage Chunk() =>
        new() { RunId = "policy-run", ChunkIndex = 0, ChunkCount = 1, Container = "validation", Plan = new ChunkRange(0, 10, 1, new string('0', 64)) };

    private static async Task<(int Deliveries, string Log)> DeliverAsync(Func<int, Exception?> failure)
    {
        var deliveries = 0;
        var log = new List<string>();
        var queue = new ChunkQueue((chunk, _, _) =>
        {
            var e = failure(++deliveries);
            return e is null ? Task.FromResult(new ChunkOutcome(chunk.RunId, chunk.ChunkIndex, 1, 0, true, true)) : Task.FromException<ChunkOutcome>(e);
        }, line => { lock (log) log.Add(line); }) { DelayUnit = TimeSpan.FromMilliseconds(1) };
        using var stop = new CancellationTokenSource();
        var running = queue.RunAsync(stop.Token);
        queue.Enqueue([Chunk()]);
        for (var i = 0; i < 500 && queue.Pending > 0; i++)
            await Task.Delay(10);
        await stop.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => running);
        lock (log)
            return (deliveries, string.Join('\n', log));
    }

    [Fact]
    public async Task Serve_retries_a_failed_inference_batch_as_the_handler_does()
    {
        // The handler fails the invocation (Service Bus redelivers); serve used to dead-letter it on the first try.
        var (deliveries, log) = await DeliverAsync(n => n < 3 ? new InferenceUnavailableException("device out of memory") : null);
        Assert.Equal(3, deliveries);
        Assert.Contains("1 scored", log, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Serve_dead_letters_after_the_policys_deliveries_and_drops_a_permanent_failure_at_once()
    {
        var (retried, deadLettered) = await DeliverAsync(_ => new InvalidOperationException("poisoned"));
        Assert.Equal(RedeliveryPolicy.MaxDeliveries, retried);
        Assert.Contains($"dead-lettered after {RedeliveryPolicy.MaxDeliveries} deliveries", deadLettered, StringComparison.Ordinal);

        var (once, dropped) = await DeliverAsync(_ => new InvalidChunkException("chunk index outside the run"));
        Assert.Equal(1, once);
        Assert.Contains("dropped: chunk index outside the run", dropped, StringComparison.Ordinal);
    }
}
