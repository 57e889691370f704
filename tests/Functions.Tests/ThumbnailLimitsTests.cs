using Azure.Core;
using Azure.Core.Pipeline;
using Azure.Storage.Blobs;
using ConvNeXt.Batch.Scoring.Preprocessing;
using ConvNeXt.Batch.Service.Reports;
using ConvNeXt.Batch.Service.Storage;
using Microsoft.Extensions.Configuration;

namespace ConvNeXt.Batch.Functions.Tests;

/// <summary>Thumbnails under the same limits as scoring: configured containers only, a decode timeout, a conditional download.</summary>
[Collection(FunctionsCollection.Name)]
public class ThumbnailLimitsTests(FunctionsFixture fixture)
{
    private static string Sample => Directory.GetFiles(Repository.ImagenetVal100, "*.JPEG").Order(StringComparer.Ordinal).First();

    private static ReportOptions Bind(params (string Key, string Value)[] settings)
    {
        var options = new ReportOptions();
        new ConfigurationBuilder().AddInMemoryCollection(settings.Select(s => new KeyValuePair<string, string?>(s.Key, s.Value))).Build()
            .GetSection(ReportOptions.Section).Bind(options);
        return options;
    }

    [Fact]
    public async Task A_configured_container_list_replaces_the_default()
    {
        Assert.Equal(["images"], Bind(("Reports:ThumbnailContainers:0", "images")).AllowedThumbnailContainers().Order());
        Assert.Equal(["images", "validation"], Bind().AllowedThumbnailContainers().Order());

        await fixture.UploadAsync(ContainerNames.Validation, "thumbs/narrowed.JPEG", await File.ReadAllBytesAsync(Sample));
        var service = new ThumbnailService(new StorageAccount(new StorageOptions { ConnectionString = fixture.ConnectionString }),
            Bind(("Reports:ThumbnailContainers:0", "images")));
        var e = await Assert.ThrowsAsync<ThumbnailUnavailableException>(() => service.GetAsync(ContainerNames.Validation, "thumbs/narrowed.JPEG"));
        Assert.Equal("container 'validation' is not shown in reports", e.Message);
    }

    [Fact]
    public async Task A_thumbnail_decode_has_the_decode_timeout()
    {
        await fixture.UploadAsync(ContainerNames.Validation, "thumbs/slow.JPEG", await File.ReadAllBytesAsync(Sample));
        var account = new StorageAccount(new StorageOptions { ConnectionString = fixture.ConnectionString });
        var service = new ThumbnailService(account, new ReportOptions(), new ImageLimits { DecodeTimeout = TimeSpan.FromTicks(1) });
        var e = await Assert.ThrowsAsync<ThumbnailUnavailableException>(() => service.GetAsync(ContainerNames.Validation, "thumbs/slow.JPEG"));
        Assert.StartsWith("decoding took longer than", e.Message);
        Assert.Equal([0xFF, 0xD8], (await new ThumbnailService(account, new ReportOptions()).GetAsync(ContainerNames.Validation, "thumbs/slow.JPEG"))[..2]);
    }

    [Fact]
    public async Task A_blob_replaced_after_its_size_was_checked_is_not_decoded()
    {
        const string Name = "thumbs/replaced.JPEG";
        await fixture.UploadAsync(ContainerNames.Validation, Name, await File.ReadAllBytesAsync(Sample));
        var replace = new ReplaceBeforeDownload(fixture.Blobs.GetBlobContainerClient(ContainerNames.Validation).GetBlobClient(Name));
        var account = new StorageAccount(new StorageOptions
        {
            ConnectionString = fixture.ConnectionString,
            ConfigureClients = options =>
            {
                if (options is BlobClientOptions)
                    options.AddPolicy(replace, HttpPipelinePosition.PerCall);
            },
        });
        var e = await Assert.ThrowsAsync<ThumbnailUnavailableException>(() => new ThumbnailService(account, new ReportOptions()).GetAsync(ContainerNames.Validation, Name));
        Assert.Equal("the image changed while it was read", e.Message);
        Assert.Equal(1, replace.Replaced);
    }

    /// <summary>Overwrites the blob (another writer) just before the first download of it is sent.</summary>
    private sealed class ReplaceBeforeDownload(BlobClient blob) : HttpPipelinePolicy
    {
        public int Replaced;

        public override void Process(HttpMessage message, ReadOnlyMemory<HttpPipelinePolicy> pipeline) =>
            throw new NotSupportedException("async only");

        public override async ValueTask ProcessAsync(HttpMessage message, ReadOnlyMemory<HttpPipelinePolicy> pipeline)
        {
            if (message.Request.Method == RequestMethod.Get && message.Request.Uri.Path.EndsWith(blob.Name, StringComparison.Ordinal)
                && Interlocked.Increment(ref Replaced) == 1)
                await blob.UploadAsync(BinaryData.FromString("a different blob, past the size that was checked"), overwrite: true);
            await ProcessNextAsync(message, pipeline);
        }
    }
}
