using System.Runtime.CompilerServices;
using Azure.Storage.Blobs.Models;
using ConvNeXt.Batch.Service.Storage;

namespace ConvNeXt.Batch.Service.Services;

/// <summary>The blobs of a container, streamed a page at a time, with each page's request retried on its own.</summary>
public static class BlobListing
{
    public static async IAsyncEnumerable<BlobReference> ListAsync(StorageAccount storage, string container, string? prefix,
        [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        var client = storage.Container(container);
        string? continuation = null;
        do
        {
            // One page per pipeline call, so a retry repeats one page, not the whole listing.
            var page = await storage.Resilience.ExecuteAsync(async ct =>
            {
                await foreach (var p in client.GetBlobsAsync(new GetBlobsOptions { Prefix = string.IsNullOrEmpty(prefix) ? null : prefix }, ct)
                                   .AsPages(continuation, 1000).WithCancellation(ct))
                    return p;
                return null;
            }, cancellationToken);
            if (page is null)
                yield break;
            foreach (var item in page.Values)
                yield return new BlobReference(container, item.Name, item.Properties.ETag?.ToString(), item.Properties.ContentLength,
                    ContentMd5: item.Properties.ContentHash is { Length: > 0 } md5 ? Convert.ToBase64String(md5) : null);
            continuation = page.ContinuationToken;
        }
        while (!string.IsNullOrEmpty(continuation));
    }
}
