using System.Diagnostics;
using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using System.Text.Json.Nodes;
using ConvNeXt.Batch.Functions.Handler;
using ConvNeXt.Batch.Service.Contracts;
using ConvNeXt.Batch.Service.Observability;
using ConvNeXt.Batch.Service.Queries;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Extensions;
using Microsoft.AspNetCore.TestHost;
using Microsoft.AspNetCore.WebUtilities;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Logging.Console;
using Microsoft.Extensions.Options;
using OpenTelemetry;
using OpenTelemetry.Trace;

namespace ConvNeXt.Batch.Functions.Tests;

/// <summary>
/// What the deployment relies on from the handler: blob names that survive the host's request
/// forwarding, spans joined to the message's trace, and console lines with real levels.
/// </summary>
[Collection(FunctionsCollection.Name)]
public class DeploymentHandlerTests(FunctionsFixture fixture)
{
    private static readonly string[] AwkwardNames = ["fwd/hash#1.jpg", "fwd/what?.jpg", "fwd/100%.jpg", "fwd/100%25.jpg", "fwd/100%25 #?%.jpg"];

    /// <summary>Names the path form cannot carry through the host: '#' and '?' cut the path, '%XX' is decoded twice. (A lone '%' survives.)</summary>
    private static readonly string[] LostInPaths = ["fwd/hash#1.jpg", "fwd/what?.jpg", "fwd/100%25.jpg", "fwd/100%25 #?%.jpg"];

    private static string Sample(int i) => Directory.GetFiles(Repository.ImagenetSamples, "*.JPEG").Order(StringComparer.Ordinal).ElementAt(i);

    /// <summary>
    /// The request the Functions host sends a custom handler with enableForwardingHttpRequest, from
    /// the URL a client sent it (the host's DefaultHttpWorkerService): the path is taken from
    /// <c>new Uri(request.GetDisplayUrl()).AbsolutePath</c> (built from the decoded path) and the query
    /// is re-added from the parsed query collection with <c>QueryHelpers.AddQueryString</c>.
    /// </summary>
    internal static string HostForwarded(string clientPathAndQuery)
    {
        var question = clientPathAndQuery.IndexOf('?');
        var rawPath = question < 0 ? clientPathAndQuery : clientPathAndQuery[..question];
        var rawQuery = question < 0 ? "" : clientPathAndQuery[question..];
        var context = new DefaultHttpContext();
        context.Request.Scheme = "https";
        context.Request.Host = new HostString("func-api.example.net");
        context.Request.Path = PathString.FromUriComponent(rawPath);
        context.Request.QueryString = new QueryString(rawQuery);
        var path = new Uri(context.Request.GetDisplayUrl()).AbsolutePath;
        var uri = new UriBuilder("http", "127.0.0.1", 5000, path).ToString();
        var query = context.Request.Query.ToDictionary(p => p.Key, p => (string?)p.Value.ToString());
        var forwarded = new Uri(QueryHelpers.AddQueryString(uri, query));
        return forwarded.PathAndQuery;
    }

    private async Task ScoreAsync(IEnumerable<string> names, JsonObject? metadataOverride = null, HttpClient? client = null)
    {
        var bodies = new List<string>();
        var i = 0;
        foreach (var name in names)
        {
            var bytes = await File.ReadAllBytesAsync(Sample(i++));
            var info = await fixture.UploadAsync("images", name, bytes);
            var uri = fixture.Blobs.GetBlobContainerClient("images").GetBlobClient(name).Uri;
            bodies.Add(HostPayloads.EventGridBlobCreated(uri, "images", name, info.ETag.ToString(), bytes.Length));
        }
        var payload = HostPayloads.ServiceBusBatch(bodies);
        if (metadataOverride is not null)
            foreach (var (key, value) in metadataOverride)
                payload["Metadata"]![key] = value?.DeepClone();
        using var request = new HttpRequestMessage(HttpMethod.Post, "/ScoreImages") { Content = JsonContent.Create(payload) };
        request.Headers.Add(FunctionInvocations.InvocationIdHeader, Guid.NewGuid().ToString());
        using var response = await (client ?? fixture.Client).SendAsync(request);
        Assert.True(response.IsSuccessStatusCode, await response.Content.ReadAsStringAsync());
    }

    private async Task<HttpResponseMessage> GetAsync(string pathAndQuery)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, pathAndQuery);
        request.Headers.Add("x-functions-key", FunctionsFixture.FunctionKey);
        return await fixture.Client.SendAsync(request);
    }

    [Fact]
    public void Host_forwarding_loses_hash_question_and_percent_in_the_path_but_keeps_them_in_the_query()
    {
        var path = "/api/predictions/images/" + Uri.EscapeDataString("hash#1.jpg");
        Assert.Equal("/api/predictions/images/hash", HostForwarded(path));
        var query = "/api/predictions?container=images&blob=" + Uri.EscapeDataString("100%25 #?%.jpg");
        var forwarded = HostForwarded(query);
        Assert.Equal("100%25 #?%.jpg", QueryHelpers.ParseQuery(new Uri("http://x" + forwarded).Query)["blob"].ToString());
    }

    [Fact]
    public async Task Blob_names_with_hash_question_and_percent_are_reachable_through_the_host_by_query()
    {
        await ScoreAsync(AwkwardNames);
        foreach (var name in AwkwardNames)
        {
            // What a client sends to the host, and what the handler then receives.
            var sent = "/api/predictions?container=images&blob=" + Uri.EscapeDataString(name);
            var response = await GetAsync(HostForwarded(sent));
            Assert.True(response.StatusCode == HttpStatusCode.OK, $"{name}: {response.StatusCode} {await response.Content.ReadAsStringAsync()}");
            var record = (await response.Content.ReadFromJsonAsync<PredictionRecord>(ContractJson.Options))!;
            Assert.Equal(("images", name, "Scored"), (record.Container, record.Blob, record.Status));

            // The path form of the same name does not reach this row once the host has rebuilt the URL
            // (404, or another blob's row: "100%25.jpg" arrives as "100%.jpg").
            var pathForm = "/api/predictions/images/" + string.Join('/', name.Split('/').Select(Uri.EscapeDataString));
            var viaPath = await GetAsync(HostForwarded(pathForm));
            var reached = viaPath.StatusCode == HttpStatusCode.OK &&
                          (await viaPath.Content.ReadFromJsonAsync<PredictionRecord>(ContractJson.Options))!.Blob == name;
            Assert.Equal(!LostInPaths.Contains(name), reached);
        }
        Assert.Equal(HttpStatusCode.NotFound, (await GetAsync("/api/predictions?container=images&blob=" + Uri.EscapeDataString("fwd/none#.jpg"))).StatusCode);
        Assert.Equal(HttpStatusCode.BadRequest, (await GetAsync("/api/predictions?blob=x.jpg")).StatusCode);
    }

    [Fact]
    public async Task Invocation_spans_join_the_messages_trace_and_cover_every_stage()
    {
        var spans = new List<Activity>();
        await using var app = await FunctionsFixture.StartHandlerAsync(fixture.ConnectionString,
            services => services.ConfigureOpenTelemetryTracerProvider(b => b.AddInMemoryExporter(spans)));
        using var client = app.GetTestClient();

        var sender = new ActivityContext(ActivityTraceId.CreateRandom(), ActivitySpanId.CreateRandom(), ActivityTraceFlags.Recorded);
        var traceparent = $"00-{sender.TraceId.ToHexString()}-{sender.SpanId.ToHexString()}-01";
        string[] names = ["spans/a.jpg", "spans/b.jpg", "spans/c.jpg"];
        // Both property bags as the host passes them (JSON strings of arrays); the SDK's Diagnostic-Id is in each message.
        var properties = JsonSerializer.Serialize(names.Select(_ => new Dictionary<string, object> { ["Diagnostic-Id"] = traceparent }).ToArray());
        await ScoreAsync(names, new JsonObject { ["ApplicationPropertiesArray"] = properties, ["UserPropertiesArray"] = properties }, client);
        app.Services.GetRequiredService<TracerProvider>().ForceFlush();

        var trace = spans.Where(s => s.TraceId == sender.TraceId).ToList();
        var invocation = Assert.Single(trace, s => s.DisplayName == "ScoreImages");
        Assert.Equal(sender.SpanId, invocation.ParentSpanId);
        Assert.Equal(ActivityKind.Consumer, invocation.Kind);
        Assert.Equal(3, invocation.GetTagItem("messaging.batch.message_count"));

        var batch = Assert.Single(trace, s => s.DisplayName == "batch");
        Assert.Equal(invocation.SpanId, batch.ParentSpanId);
        Assert.Equal(3, trace.Count(s => s.DisplayName == "download" && s.ParentSpanId == batch.SpanId));
        Assert.Equal(3, trace.Count(s => s.DisplayName == "decode" && s.ParentSpanId == batch.SpanId));
        var infer = trace.Where(s => s.DisplayName == "infer" && s.ParentSpanId == batch.SpanId).ToList();
        Assert.NotEmpty(infer);
        Assert.Equal(3, infer.Sum(s => (int)s.GetTagItem("convnext.batch.size")!));
        var write = Assert.Single(trace, s => s.DisplayName == "write");
        Assert.Equal(invocation.SpanId, write.ParentSpanId);
        Assert.Equal("Predictions", write.GetTagItem("convnext.table"));
        // This handler loaded its own model during the invocation: the cold start is in the trace.
        Assert.Equal(invocation.SpanId, Assert.Single(trace, s => s.DisplayName == "model.load").ParentSpanId);
        Assert.All(trace, s => Assert.Equal(PipelineTracing.SourceName, s.Source.Name));
    }

    [Fact]
    public async Task Image_spans_are_off_unless_asked_for_and_traces_are_sampled_by_the_configured_ratio()
    {
        // A deployment's settings: no per-image spans, and a sampling ratio of 0 for traces that start here.
        var spans = new List<Activity>();
        var settings = FunctionsFixture.Settings(fixture.ConnectionString);
        settings["Scoring:ImageSpans"] = "false";
        settings["Telemetry:SamplingRatio"] = "0";
        await using var app = HandlerApplication.Build([], b =>
        {
            b.WebHost.UseTestServer();
            b.Configuration.AddInMemoryCollection(settings);
            b.Logging.SetMinimumLevel(LogLevel.Warning);
        }, services => services.ConfigureOpenTelemetryTracerProvider(t => t.AddInMemoryExporter(spans)));
        await app.StartAsync();
        using var client = app.GetTestClient();

        // No parent trace: the ratio (0) drops the whole invocation.
        await ScoreAsync(["sampled/none.jpg"], null, client);
        // A sampled parent: kept whole (parent-based), with batch-level spans only.
        var sender = new ActivityContext(ActivityTraceId.CreateRandom(), ActivitySpanId.CreateRandom(), ActivityTraceFlags.Recorded);
        var properties = JsonSerializer.Serialize(new[] { new Dictionary<string, object> { ["Diagnostic-Id"] = $"00-{sender.TraceId.ToHexString()}-{sender.SpanId.ToHexString()}-01" } });
        await ScoreAsync(["sampled/kept.jpg"], new JsonObject { ["ApplicationPropertiesArray"] = properties, ["UserPropertiesArray"] = properties }, client);
        app.Services.GetRequiredService<TracerProvider>().ForceFlush();

        Assert.All(spans, s => Assert.Equal(sender.TraceId, s.TraceId));
        Assert.Single(spans, s => s.DisplayName == "ScoreImages");
        Assert.Single(spans, s => s.DisplayName == "batch");
        Assert.Contains(spans, s => s.DisplayName == "infer");
        Assert.DoesNotContain(spans, s => s.DisplayName is "download" or "decode");
        Assert.Equal(0.25, HandlerTelemetry.SamplingRatio(new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?> { ["Telemetry:SamplingRatio"] = "0.25" }).Build()));
        Assert.Equal(1.0, HandlerTelemetry.SamplingRatio(new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?> { ["Telemetry:SamplingRatio"] = "2" }).Build()));
    }

    [Fact]
    public void Messages_from_several_traces_become_links_of_a_new_trace()
    {
        var a = $"00-{ActivityTraceId.CreateRandom().ToHexString()}-{ActivitySpanId.CreateRandom().ToHexString()}-01";
        var b = $"00-{ActivityTraceId.CreateRandom().ToHexString()}-{ActivitySpanId.CreateRandom().ToHexString()}-01";
        var request = new InvocationRequest();
        request.Metadata["UserPropertiesArray"] = JsonSerializer.SerializeToElement(JsonSerializer.Serialize(new[]
        {
            new Dictionary<string, object> { ["Diagnostic-Id"] = a }, new Dictionary<string, object>(), new Dictionary<string, object> { ["Diagnostic-Id"] = b },
        }));
        Assert.Equal([a, null, b], InvocationTracing.MessageTraceParents(request));

        using var listener = new ActivityListener
        {
            ShouldListenTo = s => s.Name == PipelineTracing.SourceName,
            Sample = (ref ActivityCreationOptions<ActivityContext> _) => ActivitySamplingResult.AllDataAndRecorded,
        };
        ActivitySource.AddActivityListener(listener);
        using var span = InvocationTracing.Start("ScoreImages", "inv-1", request, 3)!;
        Assert.Equal(default, span.ParentSpanId);
        Assert.Equal([a, b], span.Links.Select(l => $"00-{l.Context.TraceId.ToHexString()}-{l.Context.SpanId.ToHexString()}-01"));

        var single = new InvocationRequest();
        single.Metadata["ApplicationProperties"] = JsonSerializer.SerializeToElement(new Dictionary<string, object> { ["Diagnostic-Id"] = a });
        Assert.Equal([a], InvocationTracing.MessageTraceParents(single));
    }

    [Fact]
    public void Console_lines_carry_the_real_level_and_scopes_as_key_value_pairs()
    {
        // The handler's console logger uses the key=value formatter, errors on stderr.
        var options = fixture.Services.GetRequiredService<IOptionsMonitor<ConsoleLoggerOptions>>().CurrentValue;
        Assert.Equal(KeyValueConsoleFormatter.FormatterName, options.FormatterName);
        Assert.Equal(LogLevel.Error, options.LogToStandardErrorThreshold);
        Assert.Contains(fixture.Services.GetServices<ConsoleFormatter>(), f => f is KeyValueConsoleFormatter);

        var scopes = new LoggerExternalScopeProvider();
        using var outer = scopes.Push(new Dictionary<string, object?> { ["InvocationId"] = "inv-7", ["FunctionName"] = "ScoreValidationChunk" });
        using var inner = scopes.Push(new Dictionary<string, object?> { ["RunId"] = "run 1", ["ChunkIndex"] = 3 });
        var lines = new Dictionary<LogLevel, string>();
        foreach (var level in new[] { LogLevel.Information, LogLevel.Warning, LogLevel.Error })
        {
            var writer = new StringWriter();
            new KeyValueConsoleFormatter().Write(
                new LogEntry<string>(level, "ConvNeXt.Batch.Functions.Invocations", default, "chunk 3: 2 error rows\nsecond line",
                    level == LogLevel.Error ? new InvalidOperationException("boom") : null, (s, _) => s),
                scopes, writer);
            lines[level] = writer.ToString();
        }
        Assert.Matches(@"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z info ConvNeXt\.Batch\.Functions\.Invocations InvocationId=inv-7 FunctionName=ScoreValidationChunk RunId=""run 1"" ChunkIndex=3 \| chunk 3: 2 error rows second line\r?\n$",
            lines[LogLevel.Information]);
        Assert.Contains(" warn ", lines[LogLevel.Warning]);
        Assert.Contains(" fail ", lines[LogLevel.Error]);
        Assert.EndsWith("| System.InvalidOperationException: boom" + Environment.NewLine, lines[LogLevel.Error]);
        Assert.All(lines.Values, l => Assert.DoesNotContain("Dictionary`2", l));
    }
}
