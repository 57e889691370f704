using Azure.Storage.Blobs;

namespace ConvNeXt.Batch.Service.Tests;

/// <summary>One Azurite for the assembly's storage-backed tests.</summary>
public sealed class StorageFixture : IAsyncLifetime
{
    private Azurite? _azurite;

    public string ConnectionString => _azurite!.ConnectionString;

    public async Task InitializeAsync()
    {
        Repository.RequireShared();
        _azurite = await Azurite.StartAsync();
        // The containers a deployment has (the tests assume them, as the handler's tests do).
        var blobs = new BlobServiceClient(ConnectionString);
        foreach (var name in new[] { "images", "validation", "models", "other" })
            await blobs.GetBlobContainerClient(name).CreateIfNotExistsAsync();
    }

    public async Task DisposeAsync()
    {
        if (_azurite is not null)
            await _azurite.DisposeAsync();
    }

    public async Task<Azure.Storage.Blobs.Models.BlobContentInfo> UploadAsync(string container, string name, byte[] content)
    {
        var client = new BlobServiceClient(ConnectionString).GetBlobContainerClient(container);
        await client.CreateIfNotExistsAsync();
        return (await client.GetBlobClient(name).UploadAsync(new BinaryData(content), overwrite: true)).Value;
    }
}
