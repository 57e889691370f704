using System.Net;
using System.Text;
using System.Text.Json.Nodes;
using Azure.Data.Tables;
using Azure.Storage.Blobs;
using ConvNeXt.Batch.Functions.Handler;
using ConvNeXt.Batch.Service.Storage;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.TestHost;

namespace ConvNeXt.Batch.Functions.Tests;

/// <summary>
/// Real outages: Azurite's blob and table services run as separate processes, and one of them is
/// killed while the handler runs (its port then refuses connections, as a storage endpoint that is
/// down does). The invocation must fail, write no row from the failure, and redelivery after the
/// endpoint returns must give the true rows.
/// </summary>
public sealed class EndpointOutageTests : IAsyncLifetime
{
    private AzuriteServices _azurite = null!;
    private WebApplication _app = null!;
    private HttpClient _client = null!;

    public async Task InitializeAsync()
    {
        Repository.RequireShared();
        _azurite = await AzuriteServices.StartAsync();
        await new BlobServiceClient(_azurite.ConnectionString).GetBlobContainerClient("images").CreateIfNotExistsAsync();
        _app = await FunctionsFixture.StartHandlerAsync(_azurite.ConnectionString);
        _client = _app.GetTestClient();
    }

    public async Task DisposeAsync()
    {
        _client.Dispose();
        await _app.DisposeAsync();
        await _azurite.DisposeAsync();
    }

    private readonly Dictionary<string, byte[]> _uploaded = [];

    /// <summary>
    /// Azurite persists to disk on a timer, so a killed blob service can come back without its last
    /// uploads (Azure Storage would not): put back, with the same bytes, what it lost.
    /// </summary>
    private async Task RestoreLostBlobsAsync()
    {
        var container = new BlobServiceClient(_azurite.ConnectionString).GetBlobContainerClient("images");
        await container.CreateIfNotExistsAsync();
        foreach (var (name, bytes) in _uploaded)
            if (!await container.GetBlobClient(name).ExistsAsync())
                await container.GetBlobClient(name).UploadAsync(new BinaryData(bytes), overwrite: true);
    }

    private async Task<List<string>> UploadAsync(string folder, int count)
    {
        var container = new BlobServiceClient(_azurite.ConnectionString).GetBlobContainerClient("images");
        var files = Directory.GetFiles(Repository.ImagenetSamples, "*.JPEG").Order(StringComparer.Ordinal).Take(count).ToList();
        var bodies = new List<string>();
        foreach (var path in files)
        {
            var name = $"{folder}/{Path.GetFileName(path)}";
            var bytes = await File.ReadAllBytesAsync(path);
            var info = (await container.GetBlobClient(name).UploadAsync(new BinaryData(bytes), overwrite: true)).Value;
            _uploaded[name] = bytes;
            bodies.Add(HostPayloads.EventGridBlobCreated(container.GetBlobClient(name).Uri, "images", name, info.ETag.ToString(), bytes.Length));
        }
        return bodies;
    }

    private async Task<(int Status, string Body)> InvokeAsync(IReadOnlyList<string> bodies, int deliveryCount = 1)
    {
        using var content = new StringContent(HostPayloads.ServiceBusBatch(bodies, deliveryCount: deliveryCount).ToJsonString(), Encoding.UTF8, "application/json");
        using var response = await _client.PostAsync("/ScoreImages", content);
        return ((int)response.StatusCode, await response.Content.ReadAsStringAsync());
    }

    private async Task<List<PredictionEntity>> RowsAsync(string folder)
    {
        var table = new TableClient(_azurite.ConnectionString, TableNames.Predictions);
        var low = TableKeys.Escape(folder + "/");
        var rows = new List<PredictionEntity>();
        try
        {
            await foreach (var r in table.QueryAsync<PredictionEntity>(TableClient.CreateQueryFilter(
                $"PartitionKey eq {"images"} and RowKey ge {low} and RowKey lt {TableKeys.PrefixUpperBound(low)}")))
                rows.Add(r);
        }
        catch (Azure.RequestFailedException e) when (StorageAccount.IsTableNotFound(e))
        {
            // A restarted table service may come back without its tables (as a fresh Azurite does).
        }
        return rows;
    }

    private async Task<JsonNode> HealthAsync(HttpStatusCode expected)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, "/api/health/details");
        request.Headers.Add("x-functions-key", FunctionsFixture.FunctionKey);
        using var response = await _client.SendAsync(request);
        var text = await response.Content.ReadAsStringAsync();
        Assert.True(expected == response.StatusCode, text);
        return JsonNode.Parse(text)!;
    }

    [Fact]
    public async Task Blob_endpoint_down_fails_the_invocation_with_no_rows_and_redelivery_gives_true_rows()
    {
        // Warm up with storage healthy (model loaded, tables created).
        Assert.Equal(200, (await InvokeAsync(await UploadAsync("warm", 1))).Status);
        var bodies = await UploadAsync("blobdown", 40);
        Assert.Equal("reachable", (await HealthAsync(HttpStatusCode.OK))["storage"]!["blob"]!.GetValue<string>());

        await _azurite.StopBlobAsync();
        var (status, body) = await InvokeAsync(bodies);
        Assert.True(status >= 500, body);
        Assert.Contains("redelivered", body);
        Assert.Empty(await RowsAsync("blobdown")); // no ReadFailed rows from a transient cause
        Assert.StartsWith("transient failure", (await HealthAsync(HttpStatusCode.ServiceUnavailable))["storage"]!["blob"]!.GetValue<string>());

        await _azurite.StartBlobAsync();
        await RestoreLostBlobsAsync();
        (status, body) = await InvokeAsync(bodies, deliveryCount: 2);
        Assert.True(status == 200, body);
        var rows = await RowsAsync("blobdown");
        Assert.Equal(40, rows.Count);
        Assert.All(rows, r => Assert.Equal(RowStatus.Scored, r.Status));
        Assert.Equal(40, JsonNode.Parse(body)!["ReturnValue"]!["scored"]!.GetValue<long>());
    }

    [Fact]
    public async Task Table_endpoint_down_fails_the_invocation_and_redelivery_writes_the_rows()
    {
        Assert.Equal(200, (await InvokeAsync(await UploadAsync("warm2", 1))).Status);
        var bodies = await UploadAsync("tabledown", 12);

        await _azurite.StopTableAsync();
        var (status, body) = await InvokeAsync(bodies);
        Assert.True(status >= 500, body);
        Assert.StartsWith("transient failure", (await HealthAsync(HttpStatusCode.ServiceUnavailable))["storage"]!["table"]!.GetValue<string>());

        await _azurite.StartTableAsync();
        Assert.Empty(await RowsAsync("tabledown"));
        (status, body) = await InvokeAsync(bodies, deliveryCount: 2);
        Assert.True(status == 200, body);
        var rows = await RowsAsync("tabledown");
        Assert.Equal(12, rows.Count);
        Assert.All(rows, r => Assert.Equal(RowStatus.Scored, r.Status));
    }
}
