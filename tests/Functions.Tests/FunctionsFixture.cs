using Azure.Storage.Sas;
using Azure.Storage;
using System.Text.RegularExpressions;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Azure.Storage.Blobs;
using ConvNeXt.Batch.Functions.Handler;
using ConvNeXt.Batch.Service.Storage;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.TestHost;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace ConvNeXt.Batch.Functions.Tests;

/// <summary>
/// One Azurite and one handler (real SqueezeNet model, loaded once) for every storage test of the
/// assembly; the handler runs in process on a TestServer and is called with the host's exact payloads.
/// </summary>
public sealed class FunctionsFixture : IAsyncLifetime
{
    public const string FunctionKey = "test-function-key";

    private Azurite? _azurite;

    public string ConnectionString => _azurite!.ConnectionString;
    public WebApplication App { get; private set; } = null!;
    public HttpClient Client { get; private set; } = null!;
    public BlobServiceClient Blobs { get; private set; } = null!;
    public IServiceProvider Services => App.Services;

    public static Dictionary<string, string?> Settings(string connectionString) => new()
    {
        ["Storage:ConnectionString"] = connectionString,
        ["Storage:Resilience:BaseDelay"] = "00:00:00.010",
        ["Storage:Resilience:MaxDelay"] = "00:00:00.100",
        ["Model:Location"] = Repository.SqueezeNet,
        ["Model:Labels"] = Repository.LabelsFile,
        ["Model:Preprocessing"] = "caffe",
        ["Scoring:BatchSize"] = "8",
        ["Scoring:DecodeWorkers"] = "2",
        ["Handler:FunctionKey"] = FunctionKey,
        // Tests change storage and the model between health calls: answer each from a fresh check.
        ["Health:CacheSeconds"] = "0",
        // Per-image spans (off in a deployment) so the tracing tests see every stage.
        ["Scoring:ImageSpans"] = "true",
        ["ValidationDefaults:Container"] = "validation",
        ["ValidationDefaults:Prefix"] = "val100/",
        ["ValidationDefaults:Labels"] = "labels/val.txt",
    };

    public static async Task<WebApplication> StartHandlerAsync(string connectionString, Action<IServiceCollection>? overrides = null)
    {
        var app = HandlerApplication.Build([], b =>
        {
            b.WebHost.UseTestServer();
            b.Configuration.AddInMemoryCollection(Settings(connectionString));
            b.Logging.SetMinimumLevel(LogLevel.Warning);
        }, overrides);
        await app.StartAsync();
        return app;
    }

    /// <summary>A connection string whose account SAS may read and list blobs and tables, and nothing else.</summary>
    public string ReadOnlyConnectionString()
    {
        string Part(string name) => Regex.Match(ConnectionString, $"{name}=([^;]+)").Groups[1].Value;
        var sas = new AccountSasBuilder(AccountSasPermissions.Read | AccountSasPermissions.List, DateTimeOffset.UtcNow.AddHours(1),
                AccountSasServices.Blobs | AccountSasServices.Tables, AccountSasResourceTypes.All)
            .ToSasQueryParameters(new StorageSharedKeyCredential(Part("AccountName"), Part("AccountKey"))).ToString();
        return $"BlobEndpoint={Part("BlobEndpoint")};TableEndpoint={Part("TableEndpoint")};SharedAccessSignature={sas}";
    }

    public async Task InitializeAsync()
    {
        Repository.RequireShared();
        _azurite = await Azurite.StartAsync();
        Blobs = new BlobServiceClient(ConnectionString);
        App = await StartHandlerAsync(ConnectionString);
        Client = App.GetTestClient();
        foreach (var name in new[] { ContainerNames.Images, ContainerNames.Validation, ContainerNames.Models, "other" })
            await Blobs.GetBlobContainerClient(name).CreateIfNotExistsAsync();
    }

    public async Task DisposeAsync()
    {
        Client?.Dispose();
        if (App is not null)
            await App.DisposeAsync();
        if (_azurite is not null)
            await _azurite.DisposeAsync();
    }

    public async Task<Azure.Storage.Blobs.Models.BlobContentInfo> UploadAsync(string container, string name, byte[] content)
    {
        var blob = Blobs.GetBlobContainerClient(container).GetBlobClient(name);
        return (await blob.UploadAsync(new BinaryData(content), overwrite: true)).Value;
    }

    public Task<(int Status, JsonNode Body)> InvokeAsync(string function, JsonObject payload, string? invocationId = null) =>
        InvokeAsync(Client, function, payload, invocationId);

    /// <summary>Invokes a function on any handler (e.g. a second one with other settings) with a host payload.</summary>
    public static async Task<(int Status, JsonNode Body)> InvokeAsync(HttpClient client, string function, JsonObject payload, string? invocationId = null)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, "/" + function)
        {
            Content = new StringContent(payload.ToJsonString(), Encoding.UTF8, "application/json"),
        };
        request.Headers.Add(FunctionInvocations.InvocationIdHeader, invocationId ?? Guid.NewGuid().ToString());
        using var response = await client.SendAsync(request);
        var text = await response.Content.ReadAsStringAsync();
        return ((int)response.StatusCode, JsonNode.Parse(text)!);
    }
}

[CollectionDefinition(Name)]
public sealed class FunctionsCollection : ICollectionFixture<FunctionsFixture>
{
    public const string Name = "Functions";
}

/// <summary>Payloads exactly as the Functions host builds them for a custom handler.</summary>
public static class HostPayloads
{
    /// <summary>
    /// A batched Service Bus trigger (<c>cardinality: many</c>, <c>dataType: string</c>). The host serializes a
    /// string[] binding value with <c>JsonConvert.SerializeObject</c> (it is not a JSON object), so
    /// <c>Data.messages</c> is a string holding the JSON array of bodies, and the per-message metadata arrays
    /// are strings holding JSON arrays too.
    /// </summary>
    public static JsonObject ServiceBusBatch(IReadOnlyList<string> bodies, string binding = "messages", int deliveryCount = 1)
    {
        var ids = bodies.Select((_, i) => $"msg-{i}-{Guid.NewGuid():N}").ToArray();
        var enqueued = bodies.Select(_ => DateTime.UtcNow.AddSeconds(-3).ToString("o")).ToArray();
        return new JsonObject
        {
            ["Data"] = new JsonObject { [binding] = JsonSerializer.Serialize(bodies) },
            ["Metadata"] = new JsonObject
            {
                ["MessageIdArray"] = JsonSerializer.Serialize(ids),
                ["DeliveryCountArray"] = JsonSerializer.Serialize(bodies.Select(_ => deliveryCount).ToArray()),
                ["EnqueuedTimeUtcArray"] = JsonSerializer.Serialize(enqueued),
                ["SequenceNumberArray"] = JsonSerializer.Serialize(bodies.Select((_, i) => (long)i + 1).ToArray()),
                ["ContentTypeArray"] = JsonSerializer.Serialize(bodies.Select(_ => "application/json").ToArray()),
                ["UserPropertiesArray"] = JsonSerializer.Serialize(bodies.Select(_ => new Dictionary<string, object>()).ToArray()),
                ["ApplicationPropertiesArray"] = JsonSerializer.Serialize(bodies.Select(_ => new Dictionary<string, object>()).ToArray()),
                ["sys"] = new JsonObject { ["MethodName"] = "ScoreImages", ["UtcNow"] = DateTime.UtcNow.ToString("o"), ["RandGuid"] = Guid.NewGuid().ToString() },
            },
        };
    }

    /// <summary>
    /// A single-message Service Bus trigger (<c>cardinality: one</c>, <c>dataType: string</c>): the string body
    /// goes through <c>JsonConvert.SerializeObject</c>, so the payload holds a JSON string of a JSON string literal.
    /// </summary>
    public static JsonObject ServiceBusSingle(string body, string binding = "message", int deliveryCount = 1) => new()
    {
        ["Data"] = new JsonObject { [binding] = JsonSerializer.Serialize(body) },
        ["Metadata"] = new JsonObject
        {
            ["MessageId"] = Guid.NewGuid().ToString("N"),
            ["DeliveryCount"] = deliveryCount,
            ["EnqueuedTimeUtc"] = DateTime.UtcNow.AddSeconds(-1).ToString("o"),
            ["sys"] = new JsonObject { ["MethodName"] = "ScoreValidationChunk", ["UtcNow"] = DateTime.UtcNow.ToString("o"), ["RandGuid"] = Guid.NewGuid().ToString() },
        },
    };

    /// <summary>An HTTP trigger with an output binding: not forwarded, so the request arrives as <c>Data.req</c>.</summary>
    public static JsonObject HttpRequest(string method, string url, string? body, IDictionary<string, string>? headers = null, IDictionary<string, string>? query = null)
    {
        var headerObject = new JsonObject { ["Content-Type"] = new JsonArray("application/json") };
        foreach (var (k, v) in headers ?? new Dictionary<string, string>())
            headerObject[k] = new JsonArray(v);
        var queryObject = new JsonObject();
        foreach (var (k, v) in query ?? new Dictionary<string, string>())
            queryObject[k] = v;
        return new JsonObject
        {
            ["Data"] = new JsonObject
            {
                ["req"] = new JsonObject
                {
                    ["Url"] = url,
                    ["Method"] = method,
                    ["Query"] = queryObject,
                    ["Headers"] = headerObject,
                    ["Params"] = new JsonObject(),
                    ["Identities"] = new JsonArray(),
                    ["Body"] = body,
                },
            },
            ["Metadata"] = new JsonObject
            {
                ["sys"] = new JsonObject { ["MethodName"] = "CreateValidationRun", ["UtcNow"] = DateTime.UtcNow.ToString("o"), ["RandGuid"] = Guid.NewGuid().ToString() },
            },
        };
    }

    /// <summary>
    /// A timer trigger: the TimerInfo object under the binding name. The host passes the schedule status as it
    /// was before this invocation, so <c>Next</c> is the occurrence being run (<paramref name="scheduled"/>,
    /// by default <paramref name="utcNow"/>) and <c>Last</c> the one before it.
    /// </summary>
    public static JsonObject Timer(DateTime utcNow, DateTime? scheduled = null, bool isPastDue = false)
    {
        var next = scheduled ?? utcNow;
        return new JsonObject
        {
            ["Data"] = new JsonObject
            {
                ["timer"] = new JsonObject
                {
                    ["Schedule"] = new JsonObject { ["AdjustForDST"] = true },
                    ["ScheduleStatus"] = new JsonObject
                    {
                        ["Last"] = next.AddDays(-1).ToString("o"), ["Next"] = next.ToString("o"), ["LastUpdated"] = next.AddDays(-1).ToString("o"),
                    },
                    ["IsPastDue"] = isPastDue,
                },
            },
            ["Metadata"] = new JsonObject
            {
                ["sys"] = new JsonObject { ["MethodName"] = "StartValidationRun", ["UtcNow"] = utcNow.ToString("o"), ["RandGuid"] = Guid.NewGuid().ToString() },
            },
        };
    }

    /// <summary>A storage BlobCreated event in the Event Grid schema (what Event Grid puts on the queue).</summary>
    public static string EventGridBlobCreated(Uri blobUri, string container, string blobName, string etag, long length) =>
        new JsonObject
        {
            ["topic"] = "/subscriptions/0000/resourceGroups/rg/providers/Microsoft.Storage/storageAccounts/devstoreaccount1",
            ["subject"] = $"/blobServices/default/containers/{container}/blobs/{blobName}",
            ["eventType"] = "Microsoft.Storage.BlobCreated",
            ["id"] = Guid.NewGuid().ToString(),
            ["data"] = BlobData(blobUri, etag, length),
            ["dataVersion"] = "",
            ["metadataVersion"] = "1",
            ["eventTime"] = DateTime.UtcNow.ToString("o"),
        }.ToJsonString();

    /// <summary>The same event in the CloudEvents 1.0 schema.</summary>
    public static string CloudEventBlobCreated(Uri blobUri, string container, string blobName, string etag, long length) =>
        new JsonObject
        {
            ["specversion"] = "1.0",
            ["type"] = "Microsoft.Storage.BlobCreated",
            ["source"] = "/subscriptions/0000/resourceGroups/rg/providers/Microsoft.Storage/storageAccounts/devstoreaccount1",
            ["id"] = Guid.NewGuid().ToString(),
            ["time"] = DateTime.UtcNow.ToString("o"),
            ["subject"] = $"/blobServices/default/containers/{container}/blobs/{blobName}",
            ["datacontenttype"] = "application/json",
            ["data"] = BlobData(blobUri, etag, length),
        }.ToJsonString();

    private static JsonObject BlobData(Uri blobUri, string etag, long length) => new()
    {
        ["api"] = "PutBlob",
        ["clientRequestId"] = Guid.NewGuid().ToString(),
        ["requestId"] = Guid.NewGuid().ToString(),
        ["eTag"] = etag,
        ["contentType"] = "image/jpeg",
        ["contentLength"] = length,
        ["blobType"] = "BlockBlob",
        ["url"] = blobUri.ToString(),
        ["sequencer"] = "00000000000000000000000000000000000000000000000000",
        ["storageDiagnostics"] = new JsonObject { ["batchId"] = Guid.NewGuid().ToString() },
    };
}
