using ConvNeXt.Batch.Scoring;
using Azure;
using ConvNeXt.Batch.Service.Storage;

namespace ConvNeXt.Batch.Service.Models;

/// <summary>
/// Resolves <see cref="ModelOptions.Location"/> to a verified local file: a local path is used as is;
/// a blob path is downloaded once into the cache directory (named by blob ETag, so a replaced blob is
/// fetched again) and reused by later processes.
/// </summary>
public sealed class ModelSource(StorageAccount? storage)
{
    /// <summary>
    /// Why a model at <paramref name="location"/> is not pinned, or null when it is: a blob can be
    /// replaced by anyone with write access to the container, so a blob model needs the SHA-256 it
    /// must match. A file inside the image is pinned by the image digest.
    /// </summary>
    public static string? UnpinnedReason(string? location, string? expectedSha256) =>
        string.IsNullOrWhiteSpace(location) || File.Exists(location) || !string.IsNullOrWhiteSpace(expectedSha256)
            ? null
            : $"model blob '{location}' is not pinned: set Model__Sha256 (azd: MODEL_SHA256) to its SHA-256 " +
              "(`convnext-batch model info` prints it), or Model__AllowUnpinned=true to load whatever the blob holds";

    /// <param name="allowUnpinned">Load a blob model without a pinned SHA-256 (the caller reports it as unpinned).</param>
    public async Task<string> ResolveAsync(string location, string? expectedSha256, string? cacheDirectory, bool allowUnpinned = false,
        CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(location);
        string path;
        if (File.Exists(location))
        {
            path = Path.GetFullPath(location);
        }
        else
        {
            if (storage is null)
                throw new ModelIntegrityException($"model '{location}' is not a local file and no storage account is configured");
            if (!allowUnpinned && UnpinnedReason(location, expectedSha256) is { } reason)
                throw new ModelIntegrityException("refusing to load: " + reason);
            path = await DownloadAsync(location, cacheDirectory, cancellationToken);
        }
        if (!string.IsNullOrWhiteSpace(expectedSha256))
        {
            var actual = await FileSha256.ComputeAsync(path, cancellationToken);
            if (!string.Equals(actual, expectedSha256.Trim(), StringComparison.OrdinalIgnoreCase))
                throw new ModelIntegrityException(
                    $"model '{location}' has SHA-256 {actual}, but Model__Sha256 pins {expectedSha256.Trim().ToLowerInvariant()}: refusing to load it");
        }
        return path;
    }


    private async Task<string> DownloadAsync(string location, string? cacheDirectory, CancellationToken cancellationToken)
    {
        var trimmed = location.TrimStart('/');
        var slash = trimmed.IndexOf('/');
        if (slash <= 0)
            throw new ModelIntegrityException($"model location '{location}' is neither a local file nor a blob path '<container>/<blob>'");
        var blob = storage!.Container(trimmed[..slash]).GetBlobClient(trimmed[(slash + 1)..]);
        try
        {
            var properties = await storage.Resilience.ExecuteAsync(async ct => (await blob.GetPropertiesAsync(cancellationToken: ct)).Value, cancellationToken);
            var directory = cacheDirectory ?? Path.Combine(Path.GetTempPath(), "convnext-batch", "models");
            Directory.CreateDirectory(directory);
            var etag = properties.ETag.ToString().Trim('"').Replace('/', '_').Replace('\\', '_');
            var cached = Path.Combine(directory, $"{Path.GetFileNameWithoutExtension(blob.Name)}.{etag}{Path.GetExtension(blob.Name)}");
            if (File.Exists(cached) && new FileInfo(cached).Length == properties.ContentLength)
                return cached;
            // Download beside the final name, then move: a crash never leaves a half file under the cached name.
            var partial = cached + "." + Guid.NewGuid().ToString("N")[..8] + ".part";
            await storage.Resilience.ExecuteAsync(async ct =>
                { await blob.DownloadToAsync(partial, new Azure.Storage.Blobs.Models.BlobDownloadToOptions { Conditions = new() { IfMatch = properties.ETag } }, ct); },
                cancellationToken);
            File.Move(partial, cached, overwrite: true);
            return cached;
        }
        catch (RequestFailedException e) when (e.Status == 404)
        {
            throw new ModelIntegrityException($"model blob '{location}' does not exist", e);
        }
    }
}
