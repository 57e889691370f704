using System.Net;
using System.Net.Http.Json;
using System.Net.Sockets;
using System.Text;
using Azure.Data.Tables;
using ConvNeXt.Batch.Scoring.Importers;
using ConvNeXt.Batch.Scoring.Labels;
using ConvNeXt.Batch.Scoring.Models;
using ConvNeXt.Batch.Scoring.Onnx;
using ConvNeXt.Batch.Scoring.Preprocessing;
using ConvNeXt.Batch.Service.Contracts;
using ConvNeXt.Batch.Service.Models;
using ConvNeXt.Batch.Service.Queries;
using ConvNeXt.Batch.Service.Services;
using ConvNeXt.Batch.Service.Storage;
using ConvNeXt.Batch.Service.Validation;
using Microsoft.AspNetCore.TestHost;
using Microsoft.Extensions.DependencyInjection;
using static ConvNeXt.Batch.Functions.Tests.ValidationRunTests;

namespace ConvNeXt.Batch.Functions.Tests;

/// <summary>Validation runs under the failures a queue-driven run meets: stalls, a model roll, racing finalizers, a storage outage.</summary>
[Collection(FunctionsCollection.Name)]
public class ValidationRunFaultTests(FunctionsFixture fixture) : IAsyncLifetime
{
    private const string Val100 = """ "container":"validation","prefix":"val100/","labels":"labels/val.txt" """;

    public Task InitializeAsync() => new ValidationRunTests(fixture).InitializeAsync();

    public Task DisposeAsync() => Task.CompletedTask;

    private static async Task<ValidationRunReport> GetReportAsync(HttpClient client, string runId)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, "/api/validation-runs/" + runId);
        request.Headers.Add("x-functions-key", FunctionsFixture.FunctionKey);
        using var response = await client.SendAsync(request);
        Assert.True(response.StatusCode == HttpStatusCode.OK, await response.Content.ReadAsStringAsync());
        return (await response.Content.ReadFromJsonAsync<ValidationRunReport>(ContractJson.Options))!;
    }

    private async Task<(int Status, System.Text.Json.Nodes.JsonNode Body)> DeliverAsync(HttpClient client, ValidationChunkMessage chunk) =>
        await FunctionsFixture.InvokeAsync(client, "ScoreValidationChunk", HostPayloads.ServiceBusSingle(Message(chunk)));

    [Fact]
    public async Task A_run_without_progress_is_shown_stalled_on_read_failed_only_by_the_timer_sweep_and_a_late_chunk_still_completes_it()
    {
        // A handler whose runs stall after 2 s without a finished chunk.
        await using var app = await FunctionsFixture.StartHandlerAsync(fixture.ConnectionString, services =>
            services.AddSingleton(new ValidationOptions { StallTimeout = TimeSpan.FromSeconds(2) }));
        using var client = app.GetTestClient();
        var (_, _, swept) = await CreateAsync(fixture, $$"""{ {{Val100}}, "chunkSize":50, "runId":"stall-swept" }""");
        var (_, _, read) = await CreateAsync(fixture, $$"""{ {{Val100}}, "chunkSize":50, "runId":"stall-read" }""");
        // Chunk 1 of each is "dead-lettered": never delivered.
        Assert.Equal(200, (await DeliverAsync(client, swept[0])).Status);
        Assert.Equal(200, (await DeliverAsync(client, read[0])).Status);
        Assert.Equal(RunStatus.Running, (await GetReportAsync(client, "stall-read")).Run.Status);
        await Task.Delay(TimeSpan.FromSeconds(2.5));

        // A read shows the stall (with the handler's 2 s, not the default hour): chunks done / expected / failed and the
        // reason. It writes nothing: the row still says Running, with the ETag it had.
        var runs = new TableClient(fixture.ConnectionString, TableNames.ValidationRuns);
        var before = (await runs.GetEntityAsync<ValidationRunEntity>(ValidationRunEntity.PartitionKeyValue, "stall-read")).Value;
        var report = await GetReportAsync(client, "stall-read");
        Assert.Equal((RunStatus.Stalled, 1, 2, 0), (report.Run.Status, report.ChunksDone, report.ChunksExpected, report.ChunksFailed));
        Assert.StartsWith("stalled: no chunk finished", report.Run.FailureReason);
        Assert.Contains("1 of 2 chunks done", report.Run.FailureReason);
        Assert.Null(report.Run.Top1);
        var after = (await runs.GetEntityAsync<ValidationRunEntity>(ValidationRunEntity.PartitionKeyValue, "stall-read")).Value;
        Assert.Equal((RunStatus.Running, before.ETag), (after.Status, after.ETag));

        // The timer sweeps: it marks both runs failed in their rows, with the reason.
        var (status, body) = await FunctionsFixture.InvokeAsync(client, "StartValidationRun",
            HostPayloads.Timer(new DateTime(2031, 5, 6, 7, 8, 0, DateTimeKind.Utc)));
        Assert.True(status == 200, body.ToJsonString());
        Assert.Contains(body["Logs"]!.AsArray(), l => l!.GetValue<string>().Contains("run stall-swept marked Failed"));
        Assert.Contains(body["Logs"]!.AsArray(), l => l!.GetValue<string>().Contains("run stall-read marked Failed"));
        var row = (await runs.GetEntityAsync<ValidationRunEntity>(ValidationRunEntity.PartitionKeyValue, "stall-swept")).Value;
        Assert.Equal(RunStatus.Failed, row.Status);
        Assert.Contains("1 of 2 chunks done", row.FailureReason);
        Assert.Equal(RunStatus.Failed, (await GetReportAsync(client, "stall-read")).Run.Status);

        // The dead-lettered chunk resubmitted later: the run completes after all, with true totals.
        var (late, lateBody) = await DeliverAsync(client, read[1]);
        Assert.True(late == 200 && lateBody["ReturnValue"]![0]!["finalized"]!.GetValue<bool>(), lateBody.ToJsonString());
        report = await GetReportAsync(client, "stall-read");
        Assert.Equal((RunStatus.Completed, 2, 100, (string?)null), (report.Run.Status, report.ChunksDone, report.Run.ImageCount, report.Run.FailureReason));
    }

    [Fact]
    public async Task A_chunk_scored_by_another_model_is_not_counted_and_the_run_shows_why()
    {
        // A second worker that loaded another model (a small random-weight ConvNeXt over the same 1000 classes).
        var folder = Directory.CreateTempSubdirectory("convnext-roll-").FullName;
        try
        {
            var model = Path.Combine(folder, "convnext_rolled.onnx");
            ConvNeXtOnnxBuilder.BuildToFile(RandomWeights.Create(new ConvNeXtSpec("rolled", [1, 1, 1, 1], [8, 16, 32, 64]), 1000, seed: 11),
                new ModelBuildOptions { Labels = ClassLabels.Load(Repository.LabelsFile), Preprocessing = PreprocessingSettings.Timm(32) }, model);
            await using var rolled = await FunctionsFixture.StartHandlerAsync(fixture.ConnectionString, services =>
                services.AddSingleton(new ModelOptions { Location = model }));
            using var rolledClient = rolled.GetTestClient();

            var (_, run, chunks) = await CreateAsync(fixture, $$"""{ {{Val100}}, "chunkSize":50, "runId":"model-rolled" }""");
            Assert.Equal(await Scoring.FileSha256.ComputeAsync(Repository.SqueezeNet), run["modelSha256"]!.GetValue<string>());
            Assert.Equal(200, (await DeliverAsync(fixture.Client, chunks[0])).Status);

            var (status, body) = await DeliverAsync(rolledClient, chunks[1]);
            Assert.True(status == 200, body.ToJsonString()); // completed: redelivering it to the same worker cannot help
            Assert.Empty(body["ReturnValue"]!.AsArray());
            Assert.Contains(body["Logs"]!.AsArray(), l => l!.GetValue<string>().Contains("model changed mid-run"));
            Assert.Equal((50, 1), await RowCountsAsync(fixture, "model-rolled"));

            var report = await GetReportAsync(fixture.Client, "model-rolled");
            Assert.Equal((RunStatus.Failed, 1, 2, 1), (report.Run.Status, report.ChunksDone, report.ChunksExpected, report.ChunksFailed));
            Assert.Contains("differs from the run's", report.Run.FailureReason);
            Assert.Null(report.Run.ImageCount);

            // The chunk sent again to a worker with the run's model completes the run with that model's totals only.
            var (again, againBody) = await DeliverAsync(fixture.Client, chunks[1]);
            Assert.True(again == 200 && againBody["ReturnValue"]![0]!["finalized"]!.GetValue<bool>(), againBody.ToJsonString());
            report = await GetReportAsync(fixture.Client, "model-rolled");
            Assert.Equal((RunStatus.Completed, 100, 0, (string?)null), (report.Run.Status, report.Run.ImageCount, report.ChunksFailed, report.Run.FailureReason));
            Assert.InRange(report.Run.Top1!.Value, 0.55, 0.63); // SqueezeNet's accuracy, not a random model's
        }
        finally
        {
            Directory.Delete(folder, recursive: true);
        }
    }

    [Fact]
    public async Task The_last_chunk_delivered_twenty_times_at_once_has_exactly_one_finalizer_and_true_totals()
    {
        var (_, _, chunks) = await CreateAsync(fixture, $$"""{ {{Val100}}, "chunkSize":45, "runId":"twenty-finalizers" }""");
        Assert.Equal([45, 45, 10], chunks.Select(c => c.Plan.Count));
        Assert.Equal(200, (await DeliverAsync(fixture.Client, chunks[0])).Status);
        Assert.Equal(200, (await DeliverAsync(fixture.Client, chunks[1])).Status);

        // Every delivery is held at its conditional write of the run row (it read the run as running with all chunks in)
        // until all 20 are there: then all write at once with their ETag, so one wins and 19 must take the 412 path
        // (re-read, see Completed). The hold is in the storage client's own pipeline, not in the service.
        const int Deliveries = 20;
        var gate = new ConditionalRunWriteGate(Deliveries);
        var account = new StorageAccount(new StorageOptions
        {
            ConnectionString = fixture.ConnectionString,
            ConfigureClients = o => o.AddPolicy(gate, Azure.Core.HttpPipelinePosition.PerCall),
        });
        using var services = ServiceGraph.For(account, fixture.Services.GetRequiredService<ScoringEngine>());
        var service = services.GetRequiredService<ValidationRunService>();
        var outcomes = await Task.WhenAll(Enumerable.Range(0, Deliveries).Select(i => Task.Run(() => service.ScoreChunkAsync(chunks[2], $"delivery-{i}"))));
        Assert.Equal(Deliveries, gate.Held); // each of the 20 reached the conditional write
        Assert.Equal(1, outcomes.Count(o => o.Finalized));
        Assert.All(outcomes, o => Assert.True(o.RunCompleted));

        var report = await GetReportAsync(fixture.Client, "twenty-finalizers");
        Assert.Equal((RunStatus.Completed, 3, 100, 100), (report.Run.Status, report.ChunksDone, report.Run.ImageCount, report.Run.ScoredCount));
        Assert.Equal((100, 3), await RowCountsAsync(fixture, "twenty-finalizers"));
        var clean = await fixture.Services.GetRequiredService<ValidationRunService>().RunLocallyAsync(
            new ValidationRunRequest { Container = "validation", Prefix = "val100/", Labels = "labels/val.txt", ChunkSize = 100 });
        Assert.Equal((clean.Run.Top1, clean.Run.Top5, clean.Run.MeanConfidence), (report.Run.Top1, report.Run.Top5, report.Run.MeanConfidence));
    }

    /// <summary>Holds the first <c>count</c> conditional writes (If-Match) of <c>ValidationRuns</c> rows until all have arrived.</summary>
    private sealed class ConditionalRunWriteGate(int count) : Azure.Core.Pipeline.HttpPipelinePolicy
    {
        private readonly TaskCompletionSource _all = new(TaskCreationOptions.RunContinuationsAsynchronously);
        private int _held;

        public int Held => Volatile.Read(ref _held);

        public override async ValueTask ProcessAsync(Azure.Core.HttpMessage message, ReadOnlyMemory<Azure.Core.Pipeline.HttpPipelinePolicy> pipeline)
        {
            if (IsConditionalRunWrite(message) && Interlocked.Increment(ref _held) is var arrived && arrived <= count)
            {
                if (arrived == count)
                    _all.TrySetResult();
                await _all.Task.WaitAsync(TimeSpan.FromSeconds(120));
            }
            await ProcessNextAsync(message, pipeline);
        }

        public override void Process(Azure.Core.HttpMessage message, ReadOnlyMemory<Azure.Core.Pipeline.HttpPipelinePolicy> pipeline) =>
            ProcessAsync(message, pipeline).AsTask().GetAwaiter().GetResult();

        private static bool IsConditionalRunWrite(Azure.Core.HttpMessage message) =>
            message.Request.Method == Azure.Core.RequestMethod.Put && message.Request.Uri.Path.Contains($"/{TableNames.ValidationRuns}(", StringComparison.Ordinal) &&
            message.Request.Headers.TryGetValue("If-Match", out var tag) && tag != "*";
    }

    [Fact]
    public async Task The_configured_blob_size_limit_applies_to_validation_chunks()
    {
        // The handler's one reader (Scoring__MaxBlobBytes = 100 kB) is the one validation chunks read with.
        const long Limit = 100_000;
        await using var app = await FunctionsFixture.StartHandlerAsync(fixture.ConnectionString, services =>
            services.AddSingleton(new ScoringOptions { BatchSize = 8, DecodeWorkers = 2, MaxBlobBytes = Limit }));
        using var client = app.GetTestClient();
        var (_, _, chunks) = await CreateAsync(fixture, $$"""{ {{Val100}}, "chunkSize":100, "runId":"size-limit" }""");
        var (status, body) = await DeliverAsync(client, Assert.Single(chunks));
        Assert.True(status == 200, body.ToJsonString());

        var tooLarge = Directory.GetFiles(Repository.ImagenetVal100, "*.JPEG").Where(f => new FileInfo(f).Length > Limit)
            .Select(f => "val100/" + Path.GetFileName(f)).Order(StringComparer.Ordinal).ToList();
        Assert.InRange(tooLarge.Count, 10, 90);
        var report = await GetReportAsync(client, "size-limit");
        Assert.Equal((RunStatus.Completed, 100, tooLarge.Count), (report.Run.Status, report.Run.ImageCount, report.Run.ErrorCount));
        var failed = new List<ValidationPredictionEntity>();
        await foreach (var r in new TableClient(fixture.ConnectionString, TableNames.ValidationPredictions).QueryAsync<ValidationPredictionEntity>(
                           TableClient.CreateQueryFilter($"PartitionKey eq {"size-limit"} and Status eq {RowStatus.Failed}")))
            failed.Add(r);
        Assert.Equal(tooLarge, failed.Select(r => r.BlobName).Order(StringComparer.Ordinal));
        Assert.All(failed, r => Assert.Equal("TooLarge", r.ErrorReason));
    }

    [Fact]
    public async Task Blob_endpoint_down_mid_chunk_fails_the_invocation_writes_nothing_and_redelivery_gives_true_totals()
    {
        var blobPort = new Uri(fixture.Blobs.Uri.GetLeftPart(UriPartial.Authority)).Port;
        await using var proxy = new BlobEndpointProxy(blobPort);
        var connection = System.Text.RegularExpressions.Regex.Replace(fixture.ConnectionString, @"BlobEndpoint=http://127\.0\.0\.1:\d+/",
            $"BlobEndpoint=http://127.0.0.1:{proxy.Port}/");
        await using var app = await FunctionsFixture.StartHandlerAsync(connection, services => services.AddSingleton(new StorageAccount(new StorageOptions
        {
            ConnectionString = connection,
            Resilience = new StorageResilienceOptions { MaxRetryAttempts = 2, BaseDelay = TimeSpan.FromMilliseconds(10), MaxDelay = TimeSpan.FromMilliseconds(50) },
        })));
        using var client = app.GetTestClient();

        var (_, _, chunks) = await CreateAsync(fixture, $$"""{ {{Val100}}, "chunkSize":50, "runId":"blob-outage" }""");
        // The blob service is down before the chunk's plan range can be read: transient, not a rejected chunk.
        proxy.DownAfterRequests(0);
        var (planDown, planDownBody) = await DeliverAsync(client, chunks[0]);
        Assert.True(planDown == 500, planDownBody.ToJsonString());
        Assert.Equal((0, 0), await RowCountsAsync(fixture, "blob-outage"));
        proxy.Up();

        // The blob service goes away after 20 of chunk 0's requests (its plan range, then 19 of its 50 downloads).
        proxy.DownAfterRequests(20);
        var (status, body) = await DeliverAsync(client, chunks[0]);
        Assert.True(status == 500, body.ToJsonString()); // non-2xx: Service Bus redelivers
        Assert.True(proxy.Forwarded >= 20, $"only {proxy.Forwarded} requests went through");
        Assert.Equal((0, 0), await RowCountsAsync(fixture, "blob-outage"));
        var run = await GetReportAsync(client, "blob-outage");
        Assert.Equal((RunStatus.Running, 0, (int?)null), (run.Run.Status, run.ChunksDone, run.Run.ImageCount));

        // Storage is back: the redelivery and the other chunk give the true totals.
        proxy.Up();
        Assert.Equal(200, (await DeliverAsync(client, chunks[0])).Status);
        var (last, lastBody) = await DeliverAsync(client, chunks[1]);
        Assert.True(last == 200 && lastBody["ReturnValue"]![0]!["finalized"]!.GetValue<bool>(), lastBody.ToJsonString());
        run = await GetReportAsync(client, "blob-outage");
        Assert.Equal((RunStatus.Completed, 100, 100, 0), (run.Run.Status, run.Run.ImageCount, run.Run.ScoredCount, run.Run.ErrorCount));
        Assert.InRange(run.Run.Top1!.Value, 0.55, 0.63);
    }

    /// <summary>
    /// A TCP forwarder in front of Azurite's blob port that can be taken down: listener closed and every open
    /// connection reset, so clients see what they see when the blob service dies (connection refused/reset).
    /// </summary>
    private sealed class BlobEndpointProxy : IAsyncDisposable
    {
        private readonly int _target;
        private readonly List<TcpClient> _open = [];
        private readonly CancellationTokenSource _stop = new();
        private TcpListener? _listener;
        private int _limit = int.MaxValue;
        private int _forwarded;

        public BlobEndpointProxy(int target)
        {
            _target = target;
            var probe = new TcpListener(IPAddress.Loopback, 0);
            probe.Start();
            Port = ((IPEndPoint)probe.LocalEndpoint).Port;
            probe.Stop();
            Up();
        }

        public int Port { get; }

        /// <summary>Requests passed on before the endpoint went down.</summary>
        public int Forwarded => Volatile.Read(ref _forwarded);

        /// <summary>Lets <paramref name="requests"/> more HTTP requests through, then goes down.</summary>
        public void DownAfterRequests(int requests)
        {
            Interlocked.Exchange(ref _forwarded, 0);
            Volatile.Write(ref _limit, requests);
        }

        public void Up()
        {
            Volatile.Write(ref _limit, int.MaxValue);
            var listener = new TcpListener(IPAddress.Loopback, Port);
            listener.Server.SetSocketOption(SocketOptionLevel.Socket, SocketOptionName.ReuseAddress, true);
            listener.Start();
            _listener = listener;
            _ = AcceptAsync(listener);
        }

        private void Down()
        {
            lock (_open)
            {
                _listener?.Stop();
                _listener = null;
                foreach (var c in _open)
                {
                    try
                    {
                        if (c.Client is { } socket)
                            socket.LingerState = new LingerOption(true, 0); // reset, not a graceful close
                    }
                    catch (Exception e) when (e is SocketException or ObjectDisposedException)
                    {
                        // Closed by its pump meanwhile.
                    }
                    c.Dispose();
                }
                _open.Clear();
            }
        }

        private async Task AcceptAsync(TcpListener listener)
        {
            while (!_stop.IsCancellationRequested)
            {
                TcpClient inbound;
                try
                {
                    inbound = await listener.AcceptTcpClientAsync(_stop.Token);
                }
                catch (Exception e) when (e is SocketException or ObjectDisposedException or OperationCanceledException or InvalidOperationException)
                {
                    return;
                }
                var outbound = new TcpClient();
                try
                {
                    await outbound.ConnectAsync(IPAddress.Loopback, _target);
                }
                catch (SocketException)
                {
                    inbound.Dispose();
                    outbound.Dispose();
                    continue;
                }
                lock (_open)
                {
                    _open.Add(inbound);
                    _open.Add(outbound);
                }
                _ = PumpAsync(inbound, outbound, countRequests: true);
                _ = PumpAsync(outbound, inbound, countRequests: false);
            }
        }

        private async Task PumpAsync(TcpClient from, TcpClient to, bool countRequests)
        {
            var buffer = new byte[64 * 1024];
            try
            {
                var source = from.GetStream();
                var sink = to.GetStream();
                while (true)
                {
                    var n = await source.ReadAsync(buffer, _stop.Token);
                    if (n == 0)
                        break;
                    if (countRequests)
                    {
                        // Downloads are bodiless GETs, so each "GET /" sent to the server is one request.
                        var text = Encoding.ASCII.GetString(buffer, 0, n);
                        for (var i = text.IndexOf("GET /", StringComparison.Ordinal); i >= 0; i = text.IndexOf("GET /", i + 1, StringComparison.Ordinal))
                        {
                            if (Interlocked.Increment(ref _forwarded) > Volatile.Read(ref _limit))
                            {
                                Interlocked.Decrement(ref _forwarded);
                                Down();
                                return;
                            }
                        }
                    }
                    await sink.WriteAsync(buffer.AsMemory(0, n), _stop.Token);
                }
            }
            catch (Exception e) when (e is IOException or SocketException or ObjectDisposedException or OperationCanceledException or InvalidOperationException)
            {
            }
            lock (_open)
            {
                _open.Remove(from);
                _open.Remove(to);
            }
            from.Dispose();
            to.Dispose();
        }

        public ValueTask DisposeAsync()
        {
            _stop.Cancel();
            Down();
            _stop.Dispose();
            return ValueTask.CompletedTask;
        }
    }
}
