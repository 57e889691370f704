#:project ../../Functions/ConvNeXt.Batch.Functions.csproj
#:project ../../tests/TestSupport/ConvNeXt.Batch.TestSupport.csproj
#:property TreatWarningsAsErrors=true
#:property PublishAot=false
#:property NoWarn=CA1050;CA1515;CA1822;CA1849;CA2007;CA1307;CA1305;CA1310;CA1848;CA1062;CA1031;CA5394;CA2000;IDE0005
// Validation runs at ImageNet-val scale with generated data: N distinct 32×32 JPEGs with labels and a
// val.txt-style list in a private Azurite, a random-weights ConvNeXt-atto built for 32×32 input, then one
// run in process (the path `validate --record` takes: ValidationRunService.CreateRunAsync + ScoreChunkAsync
// per chunk) and one through the custom handler's invocation routes (HTTP on a real port, host payloads,
// chunk messages delivered several at once, some twice). Each way runs in its own child process, so each
// reports its own peak memory and its own table traffic. Prints a markdown table per size. Usage:
//   dotnet run scripts/scale-bench/ScaleBench.cs -- [SIZES=1000,10000] [--chunk-size 100] [--concurrency 4] [--duplicate-every 10]
//     [--ways local,handler,local-legacy,job-plan] [--env KEY=VALUE ...]
// job-plan: a scoring job over the same blobs, planned incrementally (planner steps only; see JobPlanWay), e.g.
//   dotnet run scripts/scale-bench/ScaleBench.cs -- 100000 --ways job-plan [--env ScoringJobs__PagesPerStep=20]
// SCALE_BENCH_HOLD=FILE: at the end of each way, the child's pid is written to FILE and it waits a minute, for
// `dotnet-gcdump collect -p $(cat FILE)`. Per-phase memory (after create, after the chunks, at the end) is in each
// way's JSON line on stderr: memoryCreate, memoryChunks, memoryEnd.
// local-legacy: the in-process way on a run row without the ChunksDone bitmap, i.e. the completion check of runs created
// before it (each chunk reads every chunk row): the "before" of issue 15, measured with the same build and load.
using System.Diagnostics;
using System.Globalization;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Azure.Storage.Blobs;
using ConvNeXt.Batch.Functions.Handler;
using ConvNeXt.Batch.Service.Composition;
using ConvNeXt.Batch.Service.Contracts;
using ConvNeXt.Batch.Service.Models;
using ConvNeXt.Batch.Service.Observability;
using ConvNeXt.Batch.Service.Queries;
using ConvNeXt.Batch.Service.Services;
using ConvNeXt.Batch.Service.Storage;
using ConvNeXt.Batch.Service.Validation;
using ConvNeXt.Batch.TestSupport;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

CultureInfo.DefaultThreadCurrentCulture = CultureInfo.InvariantCulture;
CultureInfo.CurrentCulture = CultureInfo.InvariantCulture;
if (args.Length > 0 && args[0] == "--child")
    return await Child.RunAsync(args[1], args[2..]);
return await Orchestrator.RunAsync(args);

/// <summary>Options the orchestrator passes to both ways.</summary>
sealed record BenchSettings(string Connection, string Model, string Container, string Prefix, string Labels, int ChunkSize, int Concurrency, int DuplicateEvery);

static class Orchestrator
{
    public static async Task<int> RunAsync(string[] args)
    {
        var sizes = new List<int>();
        int chunkSize = 100, concurrency = 4, duplicateEvery = 10;
        var ways = new[] { "local", "handler" };
        for (var i = 0; i < args.Length; i++)
        {
            switch (args[i])
            {
                case "--chunk-size": chunkSize = int.Parse(args[++i]); break;
                case "--concurrency": concurrency = int.Parse(args[++i]); break;
                case "--duplicate-every": duplicateEvery = int.Parse(args[++i]); break;
                case "--ways": ways = args[++i].Split(','); break;
                case "--env": var pair = args[++i].Split('=', 2); Proc.ChildEnvironment[pair[0]] = pair[1]; break;
                default: sizes.AddRange(args[i].Split(',').Select(int.Parse)); break;
            }
        }
        if (sizes.Count == 0)
            sizes = [1000, 10000];

        var work = Directory.CreateTempSubdirectory("scale-bench-").FullName;
        try
        {
            var model = Path.Combine(work, "convnext_atto_32.onnx");
            var cli = Path.Combine(Repository.Root, "Cli", "bin", "Release", "net10.0", "convnext-batch.dll");
            await Proc.RunAsync("dotnet", [cli, "model", "build", "--arch", "atto", "--image-size", "32", "--random-seed", "1",
                "--labels", Repository.LabelsFile, "-o", model, "--json"]);
            Console.Error.WriteLine($"model: {model} ({new FileInfo(model).Length / 1e6:F1} MB)");
            var results = new List<(int N, string Way, JsonObject R, long AzuriteHwm)>();
            foreach (var n in sizes)
            {
                foreach (var way in ways)
                {
                    // A fresh Azurite per run, so table sizes and the emulator's memory belong to this run alone.
                    await using var azurite = await Azurite.StartAsync();
                    var settings = new BenchSettings(azurite.ConnectionString, model, "validation", $"scale{n}/", $"labels/scale{n}.txt",
                        chunkSize, concurrency, duplicateEvery);
                    var upload = Stopwatch.StartNew();
                    await Dataset.UploadAsync(settings, n);
                    Console.Error.WriteLine($"N={n} {way}: {n} images uploaded in {upload.Elapsed.TotalSeconds:F1} s; load {Load()}");
                    var listSeconds = await Dataset.TimeListingAsync(settings);
                    var r = way == "handler" ? await HandlerWay.RunAsync(settings) : await Proc.ChildAsync(way, settings, null);
                    r["listSeconds"] = listSeconds;
                    r["labelListBytes"] = Dataset.LabelListBytes(n);
                    r["load"] = Load();
                    results.Add((n, way, r, Memory.PeakBytes(azurite.ProcessId)));
                    Console.Error.WriteLine($"N={n} {way}: {r.ToJsonString()}");
                }
            }
            if (Proc.ChildEnvironment.Count > 0)
                Console.WriteLine($"children's environment: {string.Join(' ', Proc.ChildEnvironment.Select(e => $"{e.Key}={e.Value}"))}");
            Report.Print(results);
            return 0;
        }
        finally
        {
            Directory.Delete(work, recursive: true);
        }
    }

    public static string Load() => File.ReadAllText("/proc/loadavg").Split(' ')[0];
}

static class Dataset
{
    /// <summary>N distinct 32×32 JPEGs named like ImageNet val, label i mod 1000, and the val.txt-style list.</summary>
    public static async Task UploadAsync(BenchSettings s, int n)
    {
        var container = new BlobServiceClient(s.Connection).GetBlobContainerClient(s.Container);
        await container.CreateIfNotExistsAsync();
        var list = new StringBuilder();
        for (var i = 1; i <= n; i++)
            list.Append(CultureInfo.InvariantCulture, $"{Name(i)} {i % 1000}\n");
        await container.GetBlobClient(s.Labels).UploadAsync(BinaryData.FromString(list.ToString()), overwrite: true);
        await Parallel.ForEachAsync(Enumerable.Range(1, n), new ParallelOptions { MaxDegreeOfParallelism = 32 }, async (i, ct) =>
            await container.GetBlobClient(s.Prefix + Name(i)).UploadAsync(new BinaryData(Jpeg(i)), overwrite: true, ct));
    }

    /// <summary>
    /// The listing alone, as a run lists the dataset (<see cref="BlobListing"/>, a page at a time), so that the create
    /// time can be split into the storage service's listing and the run's own work. Azurite's listing is not Azure's.
    /// </summary>
    public static async Task<double> TimeListingAsync(BenchSettings s)
    {
        var account = new StorageAccount(new StorageOptions { ConnectionString = s.Connection });
        var clock = Stopwatch.StartNew();
        var count = 0;
        await foreach (var _ in BlobListing.ListAsync(account, s.Container, s.Prefix))
            count++;
        return clock.Elapsed.TotalSeconds;
    }

    /// <summary>
    /// Managed bytes the run's label list would hold as a dictionary (the fallback for a list out of name order; a sorted
    /// one, like this benchmark's, is merged with the listing and not held), measured with the service's own parser.
    /// </summary>
    public static long LabelListBytes(int n)
    {
        var lines = Enumerable.Range(1, n).Select(i => $"{Name(i)} {i % 1000}");
        var before = GC.GetTotalMemory(forceFullCollection: true);
        var map = ConvNeXt.Batch.Scoring.Evaluation.LabelledDataset.ParseValList(lines);
        var after = GC.GetTotalMemory(forceFullCollection: true);
        GC.KeepAlive(map);
        return after - before;
    }

    private static string Name(int i) => $"ILSVRC2012_val_{i:D8}.JPEG";

    private static byte[] Jpeg(int i)
    {
        // Seeded noise on a per-image base colour: every image distinct, every one decodable.
        var random = new Random(i);
        var pixels = new byte[32 * 32 * 3];
        random.NextBytes(pixels);
        var (r, g, b) = ((byte)(i * 37), (byte)(i * 101 >> 3), (byte)(i * 13 >> 5));
        for (var p = 0; p < pixels.Length; p += 3)
        {
            pixels[p] = (byte)((pixels[p] >> 2) + r / 2);
            pixels[p + 1] = (byte)((pixels[p + 1] >> 2) + g / 2);
            pixels[p + 2] = (byte)((pixels[p + 2] >> 2) + b / 2);
        }
        using var image = NetVips.Image.NewFromMemory(pixels, 32, 32, 3, NetVips.Enums.BandFormat.Uchar);
        return image.JpegsaveBuffer(q: 90);
    }
}

/// <summary>The handler way: a child process runs the custom handler on a port; this process plays the Functions host.</summary>
static class HandlerWay
{
    public static async Task<JsonObject> RunAsync(BenchSettings s)
    {
        var port = Proc.FreePort();
        using var child = Proc.StartChild("handler", s, port);
        await child.StandardOutput.ReadLineAsync(); // "ready"
        using var http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{port}"), Timeout = TimeSpan.FromMinutes(30) };
        var r = new JsonObject();
        async Task<JsonObject> Stats()
        {
            await child.StandardInput.WriteLineAsync("stats");
            await child.StandardInput.FlushAsync();
            return JsonNode.Parse((await child.StandardOutput.ReadLineAsync())!)!.AsObject();
        }

        // A first request warms the routes up and creates the tables, as the in-process way does before timing.
        (await http.GetAsync("/api/validation-runs?top=1")).EnsureSuccessStatusCode();

        // 1. POST /api/validation-runs, as the host sends it to a function with a Service Bus output.
        var t0 = await Stats();
        var clock = Stopwatch.StartNew();
        var body = JsonSerializer.Serialize(new { container = s.Container, prefix = s.Prefix, labels = s.Labels, chunkSize = s.ChunkSize });
        using var createResponse = await http.PostAsync("/CreateValidationRun", Json(Payloads.HttpRequest(body)));
        var createText = await createResponse.Content.ReadAsStringAsync();
        r["createSeconds"] = clock.Elapsed.TotalSeconds;
        r["createResponseBytes"] = Encoding.UTF8.GetByteCount(createText);
        var created = JsonNode.Parse(createText)!;
        if ((int)createResponse.StatusCode != 200)
            throw new InvalidOperationException($"CreateValidationRun {(int)createResponse.StatusCode}: {createText[..Math.Min(500, createText.Length)]}");
        var run = JsonNode.Parse(created["Outputs"]!["res"]!["body"]!.GetValue<string>())!;
        var runId = run["runId"]!.GetValue<string>();
        var chunks = created["Outputs"]!["chunks"]!.AsArray().Select(c => c!.GetValue<string>()).ToList();
        r["chunks"] = chunks.Count;
        r["maxMessageBytes"] = chunks.Max(c => Encoding.UTF8.GetByteCount(c));
        var t1 = await Stats();
        r["createTable"] = Traffic.Delta(t1, t0);

        // 2. Deliver every chunk, every k-th twice, shuffled, several at once.
        var deliveries = chunks.Concat(chunks.Where((_, i) => s.DuplicateEvery > 0 && i % s.DuplicateEvery == 0))
            .OrderBy(_ => 0).ToList();
        var shuffle = new Random(7);
        deliveries = deliveries.OrderBy(_ => shuffle.Next()).ToList();
        var finalized = 0;
        var scoring = TimeSpan.Zero;
        async Task DeliverAsync(IEnumerable<string> batch)
        {
            var started = Stopwatch.StartNew();
            await Parallel.ForEachAsync(batch, new ParallelOptions { MaxDegreeOfParallelism = s.Concurrency }, DeliverOneAsync);
            scoring += started.Elapsed;
        }
        async ValueTask DeliverOneAsync(string d, CancellationToken ct)
        {
            using var response = await http.PostAsync("/ScoreValidationChunk", Json(Payloads.ServiceBusSingle(d)), ct);
            var text = await response.Content.ReadAsStringAsync(ct);
            if ((int)response.StatusCode != 200)
                throw new InvalidOperationException($"ScoreValidationChunk {(int)response.StatusCode}: {text[..Math.Min(500, text.Length)]}");
            foreach (var o in JsonNode.Parse(text)!["ReturnValue"]!.AsArray())
                if (o!["finalized"]!.GetValue<bool>())
                    Interlocked.Increment(ref finalized);
        }
        // Half the deliveries, then the GET of a run still running (it sums the chunk rows done so far), then the rest.
        await DeliverAsync(deliveries.Take(deliveries.Count / 2));
        var g0 = await Stats();
        var (runningGetSeconds, running) = await TimeAsync(3, async () =>
        {
            using var get = await http.GetAsync($"/api/validation-runs/{runId}");
            get.EnsureSuccessStatusCode();
            return (await get.Content.ReadFromJsonAsync<JsonObject>())!;
        });
        r["runningGetSeconds"] = runningGetSeconds;
        r["runningGetChunks"] = running["chunksDone"]!.GetValue<int>();
        var g1 = await Stats();
        var runningGetTraffic = Traffic.Delta(g1, g0);
        r["runningGetTable"] = Traffic.Delta(g1, g0, 3);
        await DeliverAsync(deliveries.Skip(deliveries.Count / 2));
        r["deliveries"] = deliveries.Count;
        r["scoreSeconds"] = scoring.TotalSeconds;
        r["finalizedCount"] = finalized;
        var t2 = await Stats();
        r["chunkTable"] = Traffic.Minus(Traffic.Delta(t2, t1), runningGetTraffic);
        r["chunkSpans"] = t2["chunkSpans"]!.DeepClone();
        r["memoryCreate"] = t1["memory"]!.DeepClone();
        r["memoryChunks"] = t2["memory"]!.DeepClone();

        // 3. The queries.
        var (getSeconds, report) = await TimeAsync(3, async () =>
        {
            using var get = await http.GetAsync($"/api/validation-runs/{runId}");
            get.EnsureSuccessStatusCode();
            return (await get.Content.ReadFromJsonAsync<JsonObject>())!;
        });
        r["getSeconds"] = getSeconds;
        var t3 = await Stats();
        r["getTable"] = Traffic.Delta(t3, t2, 3);
        var (reportSeconds, html) = await TimeAsync(3, async () =>
        {
            using var page = await http.GetAsync($"/api/validation-runs/{runId}/report");
            page.EnsureSuccessStatusCode();
            return await page.Content.ReadAsStringAsync();
        });
        r["reportSeconds"] = reportSeconds;
        r["reportBytes"] = Encoding.UTF8.GetByteCount(html);
        var runRow = report["run"]!;
        r["status"] = runRow["status"]!.GetValue<string>();
        r["imageCount"] = runRow["imageCount"]?.GetValue<int>();
        r["chunksDone"] = report["chunksDone"]!.GetValue<int>();
        var end = await Stats();
        r["peakBytes"] = end["peakBytes"]!.GetValue<long>();
        await child.StandardInput.WriteLineAsync("live");
        await child.StandardInput.FlushAsync();
        r["memoryEnd"] = JsonNode.Parse((await child.StandardOutput.ReadLineAsync())!);
        if (Environment.GetEnvironmentVariable("SCALE_BENCH_HOLD") is { } hold)
        {
            // Time to take a heap dump of the handler (dotnet-gcdump collect -p PID) before it exits.
            await File.WriteAllTextAsync(hold, child.Id.ToString(CultureInfo.InvariantCulture));
            await Task.Delay(60000);
        }
        child.StandardInput.Close();
        await child.WaitForExitAsync();
        return r;
    }

    /// <summary>Median of <paramref name="repeats"/> timed calls (the first warms nothing up: each reads storage again).</summary>
    public static async Task<(double Seconds, T Last)> TimeAsync<T>(int repeats, Func<Task<T>> call)
    {
        var times = new List<double>();
        T last = default!;
        for (var i = 0; i < repeats; i++)
        {
            var clock = Stopwatch.StartNew();
            last = await call();
            times.Add(clock.Elapsed.TotalSeconds);
        }
        return (times.Order().ElementAt(times.Count / 2), last);
    }

    private static StringContent Json(JsonObject payload) => new(payload.ToJsonString(), Encoding.UTF8, "application/json");
}

/// <summary>Invocation payloads as the Functions host builds them (see tests/Functions.Tests/FunctionsFixture.cs).</summary>
static class Payloads
{
    public static JsonObject ServiceBusSingle(string body) => new()
    {
        ["Data"] = new JsonObject { ["message"] = JsonSerializer.Serialize(body) },
        ["Metadata"] = new JsonObject
        {
            ["MessageId"] = Guid.NewGuid().ToString("N"),
            ["DeliveryCount"] = 1,
            ["EnqueuedTimeUtc"] = DateTime.UtcNow.ToString("o"),
            ["sys"] = new JsonObject { ["MethodName"] = "ScoreValidationChunk", ["UtcNow"] = DateTime.UtcNow.ToString("o"), ["RandGuid"] = Guid.NewGuid().ToString() },
        },
    };

    public static JsonObject HttpRequest(string body) => new()
    {
        ["Data"] = new JsonObject
        {
            ["req"] = new JsonObject
            {
                ["Url"] = "http://localhost:7071/api/validation-runs", ["Method"] = "POST", ["Query"] = new JsonObject(),
                ["Headers"] = new JsonObject { ["Content-Type"] = new JsonArray("application/json") },
                ["Params"] = new JsonObject(), ["Identities"] = new JsonArray(), ["Body"] = body,
            },
        },
        ["Metadata"] = new JsonObject
        {
            ["sys"] = new JsonObject { ["MethodName"] = "CreateValidationRun", ["UtcNow"] = DateTime.UtcNow.ToString("o"), ["RandGuid"] = Guid.NewGuid().ToString() },
        },
    };
}

/// <summary>The two child processes: <c>local</c> runs a whole run and prints its figures; <c>handler</c> serves until stdin closes.</summary>
static class Child
{
    public static async Task<int> RunAsync(string way, string[] args)
    {
        var s = JsonSerializer.Deserialize<BenchSettings>(Environment.GetEnvironmentVariable("SCALE_BENCH")!)!;
        var traffic = new TableTraffic();
        var spans = new ChunkSpans();
        using var listener = spans.Listen();
        var storage = new StorageOptions { ConnectionString = s.Connection, ConfigureClients = TableTraffic.Attach(traffic) };
        if (way == "handler")
        {
            var app = HandlerApplication.Build([], b =>
            {
                b.Configuration.AddInMemoryCollection(new Dictionary<string, string?>
                {
                    // The same account as the instance below (which carries the traffic counter); the setting satisfies the start check.
                    ["Storage:ConnectionString"] = s.Connection,
                    ["Model:Location"] = s.Model,
                    ["Validation:ChunkSize"] = s.ChunkSize.ToString(CultureInfo.InvariantCulture),
                });
                b.Logging.SetMinimumLevel(LogLevel.Warning);
            }, services => services.AddSingleton(storage));
            await app.StartAsync();
            // The model loads on first use; load it now so the first chunk's time is the chunk's.
            await app.Services.GetRequiredService<ScoringEngine>().GetModelInfoAsync();
            Console.WriteLine("ready");
            while (await Console.In.ReadLineAsync() is { } line)
                if (line == "stats")
                    Console.WriteLine(Traffic.Json(traffic, spans).ToJsonString());
                else if (line == "live")
                    Console.WriteLine(Memory.Snapshot(collect: true).ToJsonString());
            await app.StopAsync();
            return 0;
        }

        if (way == "job-plan")
            return await JobPlanWay.RunAsync(s, storage, traffic);

        // In process, as `convnext-batch validate --record` runs it (ValidationRunService.RunLocallyAsync, step by step).
        // The services as every host composes them; the storage options carry the traffic counter.
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["Storage:ConnectionString"] = s.Connection, ["Model:Location"] = s.Model,
            ["Validation:ChunkSize"] = s.ChunkSize.ToString(CultureInfo.InvariantCulture),
        }).Build();
        await using var provider = new ServiceCollection().AddConvNeXtBatch(configuration).AddSingleton(storage).BuildServiceProvider();
        var account = provider.GetRequiredService<StorageAccount>();
        var engine = provider.GetRequiredService<ScoringEngine>();
        await engine.GetModelInfoAsync();
        var service = provider.GetRequiredService<ValidationRunService>();
        var r = new JsonObject();
        await account.EnsureTablesAsync();
        var t0 = Traffic.Json(traffic, spans);
        var clock = Stopwatch.StartNew();
        var plan = await service.CreateRunAsync(new ValidationRunRequest { Container = s.Container, Prefix = s.Prefix, Labels = s.Labels, ChunkSize = s.ChunkSize }, "local");
        r["createSeconds"] = clock.Elapsed.TotalSeconds;
        r["chunks"] = plan.Chunks.Count;
        r["maxMessageBytes"] = plan.Chunks.Max(c => JsonSerializer.SerializeToUtf8Bytes(c, ContractJson.Options).Length);
        var t1 = Traffic.Json(traffic, spans);
        r["createTable"] = Traffic.Delta(t1, t0);
        if (way == "local-legacy")
        {
            // The completion check as it was before the ChunksDone bitmap (every chunk queries all chunk rows): still the
            // path of runs created before it, so a run row without the bitmap measures it with today's code.
            var runs = account.Table(TableNames.ValidationRuns);
            var row = (await runs.GetEntityAsync<ValidationRunEntity>(ValidationRunEntity.PartitionKeyValue, plan.Run.RunId)).Value;
            row.ChunksDone = null;
            await runs.UpdateEntityAsync(row, row.ETag, Azure.Data.Tables.TableUpdateMode.Replace);
            t1 = Traffic.Json(traffic, spans);
        }
        clock.Restart();
        var finalized = 0;
        var queries = provider.GetRequiredService<ValidationQueries>();
        var labels = (await engine.GetClassifierAsync()).Labels;
        var scored = TimeSpan.Zero;
        var runningGetTraffic = new JsonObject();
        for (var i = 0; i < plan.Chunks.Count; i++)
        {
            if (i == plan.Chunks.Count / 2)
            {
                // Halfway: the GET of a run still running (it sums the chunk rows done so far).
                scored += clock.Elapsed;
                var g0 = Traffic.Json(traffic, spans);
                var (runningGetSeconds, running) = await HandlerWay.TimeAsync(3, async () => (await queries.GetRunAsync(plan.Run.RunId, labels))!);
                r["runningGetSeconds"] = runningGetSeconds;
                r["runningGetChunks"] = running.ChunksDone;
                var g1 = Traffic.Json(traffic, spans);
                runningGetTraffic = Traffic.Delta(g1, g0);
                r["runningGetTable"] = Traffic.Delta(g1, g0, 3);
                clock.Restart();
            }
            using var root = ChunkSpans.Source.StartActivity("ScoreValidationChunk");
            if ((await service.ScoreChunkAsync(plan.Chunks[i], "local")).Finalized)
                finalized++;
        }
        scored += clock.Elapsed;
        r["deliveries"] = plan.Chunks.Count;
        r["scoreSeconds"] = scored.TotalSeconds;
        r["finalizedCount"] = finalized;
        var t2 = Traffic.Json(traffic, spans);
        r["chunkTable"] = Traffic.Minus(Traffic.Delta(t2, t1), runningGetTraffic);
        r["chunkSpans"] = t2["chunkSpans"]!.DeepClone();
        r["memoryCreate"] = t1["memory"]!.DeepClone();
        r["memoryChunks"] = t2["memory"]!.DeepClone();
        var (getSeconds, report) = await HandlerWay.TimeAsync(3, async () => (await queries.GetRunAsync(plan.Run.RunId, labels))!);
        r["getSeconds"] = getSeconds;
        r["getTable"] = Traffic.Delta(Traffic.Json(traffic, spans), t2, 3);
        r["status"] = report.Run.Status;
        r["imageCount"] = report.Run.ImageCount;
        r["chunksDone"] = report.ChunksDone;
        r["peakBytes"] = Memory.PeakBytes(Environment.ProcessId);
        r["memoryEnd"] = Memory.Snapshot(collect: true);
        if (Environment.GetEnvironmentVariable("SCALE_BENCH_HOLD") is { } hold)
        {
            File.WriteAllText(hold, Environment.ProcessId.ToString(CultureInfo.InvariantCulture));
            await Task.Delay(60000);
        }
        Console.WriteLine(r.ToJsonString());
        return 0;
    }
}

/// <summary>
/// Per chunk delivery: its whole time, the scoring pipeline's (<c>batch</c> span: download, decode, infer),
/// the table writes (<c>write</c>) and the completion check (<c>finalize</c>), from the pipeline's spans.
/// </summary>
sealed class ChunkSpans
{
    public static readonly ActivitySource Source = new("ScaleBench");
    private readonly Lock _gate = new();
    private readonly Dictionary<string, Dictionary<string, double>> _open = [];
    private readonly List<Dictionary<string, double>> _done = [];
    private double _finalizing;

    public ActivityListener Listen()
    {
        var listener = new ActivityListener
        {
            ShouldListenTo = s => s.Name is PipelineTracing.SourceName or "ScaleBench",
            Sample = (ref ActivityCreationOptions<ActivityContext> _) => ActivitySamplingResult.AllData,
            ActivityStopped = Stopped,
        };
        ActivitySource.AddActivityListener(listener);
        return listener;
    }

    private void Stopped(Activity a)
    {
        var root = a;
        while (root.Parent is { } p && root.OperationName != "ScoreValidationChunk")
            root = p;
        if (root.OperationName != "ScoreValidationChunk")
            return;
        lock (_gate)
        {
            if (a == root)
            {
                var parts = _open.Remove(a.Id!, out var found) ? found : [];
                parts["total"] = a.Duration.TotalSeconds;
                _done.Add(parts);
                return;
            }
            if (a.OperationName is not ("batch" or "write" or "finalize"))
                return;
            if (!_open.TryGetValue(root.Id!, out var sums))
                _open[root.Id!] = sums = [];
            sums[a.OperationName] = sums.GetValueOrDefault(a.OperationName) + a.Duration.TotalSeconds;
            if (a.OperationName == "finalize" && a.GetTagItem("convnext.finalized") is true)
                _finalizing = a.Duration.TotalSeconds;
        }
    }

    public JsonObject Summary()
    {
        lock (_gate)
        {
            var overhead = _done.Select(d => d["total"] - d.GetValueOrDefault("batch")).Order().ToList();
            double Mean(string k) => _done.Count == 0 ? 0 : _done.Average(d => d.GetValueOrDefault(k));
            return new JsonObject
            {
                ["count"] = _done.Count,
                ["meanTotal"] = Mean("total"),
                ["meanBatch"] = Mean("batch"),
                ["meanWrite"] = Mean("write"),
                ["meanFinalize"] = Mean("finalize"),
                ["maxFinalize"] = _done.Count == 0 ? 0 : _done.Max(d => d.GetValueOrDefault("finalize")),
                ["meanOverhead"] = overhead.Count == 0 ? 0 : overhead.Average(),
                ["p95Overhead"] = overhead.Count == 0 ? 0 : overhead[(int)(overhead.Count * 0.95)],
                ["sumOverhead"] = overhead.Sum(),
                ["finalizing"] = _finalizing,
            };
        }
    }
}

static class Traffic
{
    public static JsonObject Json(TableTraffic t, ChunkSpans spans) => new()
    {
        ["requests"] = t.Requests, ["pointReads"] = t.PointReads, ["queries"] = t.Queries, ["entitiesRead"] = t.EntitiesRead, ["writes"] = t.Writes,
        ["chunkSpans"] = spans.Summary(), ["peakBytes"] = Memory.PeakBytes(Environment.ProcessId), ["memory"] = Memory.Snapshot(),
    };

    /// <summary><paramref name="total"/> less <paramref name="part"/>, key by key (a key missing from the part counts 0).</summary>
    public static JsonObject Minus(JsonObject total, JsonObject part)
    {
        var d = new JsonObject();
        foreach (var (k, v) in total)
            d[k] = v!.GetValue<double>() - (part[k]?.GetValue<double>() ?? 0);
        return d;
    }

    public static JsonObject Delta(JsonObject after, JsonObject before, int per = 1)
    {
        var d = new JsonObject();
        foreach (var k in new[] { "requests", "pointReads", "queries", "entitiesRead", "writes" })
            d[k] = (double)(after[k]!.GetValue<long>() - before[k]!.GetValue<long>()) / per;
        return d;
    }
}

static class Memory
{
    /// <summary>
    /// Where the process's memory is at a phase: peak and current resident set, the managed heap as the last GC left it,
    /// and (with <paramref name="collect"/>) what is still reachable after a full collection, the part that code holds.
    /// </summary>
    public static JsonObject Snapshot(bool collect = false)
    {
        var info = GC.GetGCMemoryInfo();
        var o = new JsonObject
        {
            ["hwm"] = PeakBytes(Environment.ProcessId), ["rss"] = Status(Environment.ProcessId, "VmRSS:"),
            ["heap"] = info.HeapSizeBytes, ["committed"] = info.TotalCommittedBytes, ["allocated"] = GC.GetTotalAllocatedBytes(),
        };
        if (collect)
        {
            // A full compacting collection, large objects included: what is left, less the gaps, is what the code holds.
            System.Runtime.GCSettings.LargeObjectHeapCompactionMode = System.Runtime.GCLargeObjectHeapCompactionMode.CompactOnce;
            GC.Collect(2, GCCollectionMode.Forced, blocking: true, compacting: true);
            var full = GC.GetGCMemoryInfo(GCKind.FullBlocking);
            o["live"] = full.HeapSizeBytes - full.FragmentedBytes;
        }
        return o;
    }

    /// <summary>Peak resident set (VmHWM) of a process, in bytes.</summary>
    public static long PeakBytes(int pid) => Status(pid, "VmHWM:");

    private static long Status(int pid, string key)
    {
        foreach (var line in File.ReadLines($"/proc/{pid}/status"))
            if (line.StartsWith(key, StringComparison.Ordinal))
                return long.Parse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1], CultureInfo.InvariantCulture) * 1024;
        return 0;
    }
}

static class Proc
{
    /// <summary>Variables set for every child (<c>--env KEY=VALUE</c>), e.g. GC settings to compare.</summary>
    public static readonly Dictionary<string, string> ChildEnvironment = [];

    public static int FreePort()
    {
        using var socket = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0);
        socket.Start();
        return ((System.Net.IPEndPoint)socket.LocalEndpoint).Port;
    }

    public static async Task RunAsync(string file, string[] args)
    {
        var start = new ProcessStartInfo(file) { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in args)
            start.ArgumentList.Add(a);
        using var p = Process.Start(start)!;
        var output = p.StandardOutput.ReadToEndAsync();
        var error = p.StandardError.ReadToEndAsync();
        await p.WaitForExitAsync();
        if (p.ExitCode != 0)
            throw new InvalidOperationException($"{file} {string.Join(' ', args)} exited {p.ExitCode}: {await error}{await output}");
    }

    /// <summary>This program again, as a child for one way.</summary>
    public static Process StartChild(string way, BenchSettings s, int? port)
    {
        var self = Environment.ProcessPath!;
        var start = new ProcessStartInfo(self) { RedirectStandardOutput = true, RedirectStandardInput = true, RedirectStandardError = false };
        if (Path.GetFileNameWithoutExtension(self) == "dotnet")
            start.ArgumentList.Add(typeof(Orchestrator).Assembly.Location);
        start.ArgumentList.Add("--child");
        start.ArgumentList.Add(way);
        start.Environment["SCALE_BENCH"] = JsonSerializer.Serialize(s);
        foreach (var (key, value) in ChildEnvironment)
            start.Environment[key] = value;
        if (port is { } p)
            start.Environment["FUNCTIONS_CUSTOMHANDLER_PORT"] = p.ToString(CultureInfo.InvariantCulture);
        return Process.Start(start)!;
    }

    public static async Task<JsonObject> ChildAsync(string way, BenchSettings s, int? port)
    {
        using var child = StartChild(way, s, port);
        child.StandardInput.Close();
        var output = await child.StandardOutput.ReadToEndAsync();
        await child.WaitForExitAsync();
        if (child.ExitCode != 0)
            throw new InvalidOperationException($"child {way} exited {child.ExitCode}: {output}");
        return JsonNode.Parse(output.Trim().Split('\n')[^1])!.AsObject();
    }
}

/// <summary>
/// job-plan: a scoring job over the N blobs planned incrementally, as PlanScoringJob runs it (planner steps of
/// ScoringJobs__PagesPerStep listing pages, one chunk per page): each step's time (the bound that keeps an invocation
/// short whatever the container's size), memory across steps, and the per-chunk overhead (list blob, message, row writes).
/// Planning only: scoring a chunk is the chunk work of the other ways.
/// </summary>
static class JobPlanWay
{
    public static async Task<int> RunAsync(BenchSettings s, StorageOptions storage, TableTraffic traffic)
    {
        var pages = int.TryParse(Environment.GetEnvironmentVariable("ScoringJobs__PagesPerStep"), out var p) ? p : new ConvNeXt.Batch.Service.Jobs.ScoringJobOptions().PagesPerStep;
        // The services as every host composes them; the storage options carry the traffic counter.
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["Storage:ConnectionString"] = s.Connection, ["Model:Location"] = s.Model,
            ["ScoringJobs:AllowedContainers:0"] = s.Container,
            ["ScoringJobs:ChunkSize"] = s.ChunkSize.ToString(CultureInfo.InvariantCulture),
            ["ScoringJobs:PagesPerStep"] = pages.ToString(CultureInfo.InvariantCulture),
        }).Build();
        await using var provider = new ServiceCollection().AddConvNeXtBatch(configuration).AddSingleton(storage).BuildServiceProvider();
        var model = await provider.GetRequiredService<ScoringEngine>().GetModelInfoAsync();
        var jobs = provider.GetRequiredService<ConvNeXt.Batch.Service.Jobs.ScoringJobService>();
        var (job, first) = await jobs.StartAsync(new ConvNeXt.Batch.Service.Jobs.ScoringJobRequest { Container = s.Container, Prefix = s.Prefix, Model = model.ModelId });
        var before = traffic.Requests;
        var times = new List<double>();
        var heaps = new List<long>();
        long messageBytes = 0, chunks = 0, maxMessage = 0;
        var total = Stopwatch.StartNew();
        for (var step = first; step is not null;)
        {
            var clock = Stopwatch.StartNew();
            var result = await jobs.PlanStepAsync(step);
            times.Add(clock.Elapsed.TotalSeconds);
            foreach (var c in result.Chunks)
            {
                var bytes = JsonSerializer.SerializeToUtf8Bytes(c, ContractJson.Options).Length;
                messageBytes += bytes;
                maxMessage = Math.Max(maxMessage, bytes);
                chunks++;
            }
            heaps.Add(GC.GetTotalMemory(forceFullCollection: times.Count % 10 == 0));
            step = result.Next;
        }
        var status = (await jobs.GetAsync(job.JobId))!;
        long listBytes = 0;
        await foreach (var b in provider.GetRequiredService<StorageAccount>().Container(ConvNeXt.Batch.Service.Jobs.ScoringJobService.ListsContainer).GetBlobsAsync(new Azure.Storage.Blobs.Models.GetBlobsOptions { Prefix = job.JobId + "/" }))
            listBytes += b.Properties.ContentLength ?? 0;
        var r = new JsonObject
        {
            ["steps"] = times.Count, ["pagesPerStep"] = pages, ["chunks"] = chunks, ["planned"] = status.Planned, ["planningDone"] = status.PlanningDone,
            ["planSeconds"] = total.Elapsed.TotalSeconds, ["maxStepSeconds"] = times.Max(), ["meanStepSeconds"] = times.Average(),
            ["heapFirstMB"] = heaps[0] / 1e6, ["heapMaxMB"] = heaps.Max() / 1e6, ["heapLastMB"] = heaps[^1] / 1e6,
            ["peakBytes"] = Memory.PeakBytes(Environment.ProcessId),
            ["maxMessageBytes"] = maxMessage, ["messageBytesPerChunk"] = chunks == 0 ? 0 : messageBytes / (double)chunks,
            ["listBytesPerChunk"] = chunks == 0 ? 0 : listBytes / (double)chunks,
            ["tableRequestsPerStep"] = (traffic.Requests - before) / (double)times.Count,
        };
        Console.WriteLine(r.ToJsonString());
        return 0;
    }
}

static class Report
{
    public static void Print(List<(int N, string Way, JsonObject R, long AzuriteHwm)> results)
    {
        var jobRows = results.Where(x => x.Way == "job-plan").ToList();
        if (jobRows.Count > 0)
        {
            Console.WriteLine("| blobs | way | planner steps (pages each) | chunks | planned | plan total s | planner step s (max / mean) | managed heap MB (first / max / last step) | peak RSS MB | chunk message B (max / mean) | chunk list B (mean) | table requests per step | load |");
            Console.WriteLine("|---|---|---|---|---|---|---|---|---|---|---|---|---|");
            foreach (var (n, way, r, _) in jobRows)
            {
                double D(string k) => r[k]!.GetValue<double>();
                Console.WriteLine(FormattableString.Invariant(
                    $"| {n:N0} | {way} | {r["steps"]} ({r["pagesPerStep"]}) | {r["chunks"]} | {r["planned"]} | {D("planSeconds"):F1} | {D("maxStepSeconds"):F3} / {D("meanStepSeconds"):F3} | {D("heapFirstMB"):F1} / {D("heapMaxMB"):F1} / {D("heapLastMB"):F1} | {r["peakBytes"]!.GetValue<long>() / 1e6:F0} | {r["maxMessageBytes"]} / {D("messageBytesPerChunk"):F0} | {D("listBytesPerChunk"):F0} | {D("tableRequestsPerStep"):F1} | {r["load"]} |"));
            }
            results = results.Where(x => x.Way != "job-plan").ToList();
            if (results.Count == 0)
                return;
        }
        Console.WriteLine("| images | way | chunks (deliveries) | list alone s | list + create s | largest chunk message B | create response B | " +
                          "overhead per delivery ms (mean / p95) | completion check ms (mean) | finalizing ms | overhead s per 1,000 images | " +
                          "table requests per image | entities read per image (chunks) | GET running s (chunks done) | GET completed s | report s | " +
                          "peak RSS MB (after create / end) | live managed MB (end) | label dictionary MB (fallback) | Azurite MB | status | load |");
        Console.WriteLine("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|");
        foreach (var (n, way, r, azurite) in results)
        {
            var spans = r["chunkSpans"]!;
            var chunkTable = r["chunkTable"]!;
            var createTable = r["createTable"]!;
            double D(JsonNode? x) => x?.GetValue<double>() ?? double.NaN;
            long L(JsonNode? x) => x?.GetValue<long>() ?? 0;
            var overheadPer1000 = (D(r["createSeconds"]) + D(spans["sumOverhead"])) / n * 1000;
            var requests = (D(chunkTable["requests"]) + D(createTable["requests"])) / n;
            Console.WriteLine(string.Join(" | ", [
                $"| {n:N0}", way, $"{r["chunks"]} ({r["deliveries"]})", $"{D(r["listSeconds"]):F2}", $"{D(r["createSeconds"]):F2}", $"{r["maxMessageBytes"]:N0}",
                r["createResponseBytes"] is { } crb ? $"{crb.GetValue<int>():N0}" : "—",
                $"{D(spans["meanOverhead"]) * 1000:F1} / {D(spans["p95Overhead"]) * 1000:F1}", $"{D(spans["meanFinalize"]) * 1000:F1}",
                $"{D(spans["finalizing"]) * 1000:F0}", $"{overheadPer1000:F2}", $"{requests:F3}", $"{D(chunkTable["entitiesRead"]) / n:F3}",
                $"{D(r["runningGetSeconds"]):F3} ({r["runningGetChunks"]})", $"{D(r["getSeconds"]):F3}",
                r["reportSeconds"] is { } rs ? $"{rs.GetValue<double>():F3}" : "—",
                $"{L(r["memoryCreate"]!["hwm"]) / 1e6:F0} / {L(r["peakBytes"]) / 1e6:F0}", $"{L(r["memoryEnd"]!["live"]) / 1e6:F1}", $"{L(r["labelListBytes"]) / 1e6:F1}",
                $"{azurite / 1e6:F0}", $"{r["status"]} {r["imageCount"]} ({r["finalizedCount"]}× finalized)", $"{r["load"]} |"]));
        }
    }
}
