using System.Security.Cryptography;
using Azure;
using Azure.Storage.Blobs.Models;
using ConvNeXt.Batch.Service.Storage;

namespace ConvNeXt.Batch.Service.Reports;

/// <summary>
/// The report links' signing key every instance of a deployment shares, kept as a blob (<see cref="BlobName"/> in
/// <c>validation-runs</c>, which the API app already writes) and made once by whichever instance needs it first. A page
/// from one replica then opens its thumbnails and next pages on any other, with no secret in the deployment template.
/// <c>Reports__LinkSigningKey</c>, when set, is used instead.
/// </summary>
public sealed class StoredLinkSigningKey(StorageAccount storage)
{
    public const string BlobName = "report-link-signing-key";

    /// <exception cref="InvalidOperationException">The stored key is not base64 of at least 16 bytes (someone wrote it by hand).</exception>
    public async Task<byte[]> GetOrCreateAsync(CancellationToken cancellationToken = default)
    {
        var container = storage.Container(ContainerNames.ValidationRuns);
        var blob = container.GetBlobClient(BlobName);
        return await storage.Resilience.ExecuteAsync(async ct =>
        {
            try
            {
                return Parse((await blob.DownloadContentAsync(ct)).Value.Content.ToString());
            }
            catch (RequestFailedException e) when (e.Status == 404)
            {
                await container.CreateIfNotExistsAsync(cancellationToken: ct);
                var key = RandomNumberGenerator.GetBytes(32);
                try
                {
                    await blob.UploadAsync(BinaryData.FromString(Convert.ToBase64String(key)),
                        new BlobUploadOptions { Conditions = new BlobRequestConditions { IfNoneMatch = ETag.All } }, ct);
                    return key;
                }
                catch (RequestFailedException lost) when (lost.Status is 409 or 412)
                {
                    // Another instance made it first: everyone uses that one.
                    return Parse((await blob.DownloadContentAsync(ct)).Value.Content.ToString());
                }
            }
        }, cancellationToken);
    }

    private static byte[] Parse(string text)
    {
        try
        {
            var key = Convert.FromBase64String(text.Trim());
            if (key.Length >= 16)
                return key;
        }
        catch (FormatException)
        {
        }
        throw new InvalidOperationException($"validation-runs/{BlobName} is not base64 of at least 16 bytes: delete it and a new key is made");
    }
}
