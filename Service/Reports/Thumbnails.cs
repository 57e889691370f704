using Azure;
using ConvNeXt.Batch.Scoring.Preprocessing;
using ConvNeXt.Batch.Service.Storage;
using NetVips;

namespace ConvNeXt.Batch.Service.Reports;

/// <summary>A thumbnail that cannot be made from this blob (not allowed, missing, too large, not an image): HTTP 404.</summary>
public sealed class ThumbnailUnavailableException(string message) : Exception(message);

/// <summary>
/// Small JPEG previews of stored images, made on request from the blob (never a public blob URL). Only
/// containers in <see cref="ReportOptions.ThumbnailContainers"/> are read, names are checked as untrusted,
/// and the scoring limits on bytes and pixels apply before anything is decoded.
/// </summary>
public sealed class ThumbnailService(StorageAccount storage, ReportOptions options, ImageLimits? limits = null)
{
    private readonly ReportOptions _options = options;
    private readonly ImageLimits _limits = limits ?? ImageLimits.Default;

    /// <summary>JPEG bytes of the thumbnail.</summary>
    /// <exception cref="ThumbnailUnavailableException">Not allowed, missing, too large or not decodable.</exception>
    /// <exception cref="RequestFailedException">Storage failed through every retry (transient: the caller answers 5xx).</exception>
    public async Task<byte[]> GetAsync(string container, string blob, CancellationToken cancellationToken = default)
    {
        if (BlobNames.ContainerProblem(container) is { } containerProblem)
            throw new ThumbnailUnavailableException(containerProblem);
        if (!_options.ThumbnailContainers.Contains(container, StringComparer.Ordinal))
            throw new ThumbnailUnavailableException($"container '{container}' is not shown in reports");
        if (BlobNames.Problem(blob) is { } blobProblem)
            throw new ThumbnailUnavailableException(blobProblem);

        BinaryData content;
        try
        {
            var client = storage.Container(container).GetBlobClient(blob);
            content = await storage.Resilience.ExecuteAsync(async ct =>
            {
                var properties = await client.GetPropertiesAsync(cancellationToken: ct);
                if (properties.Value.ContentLength > _limits.MaxBytes)
                    throw new ThumbnailUnavailableException($"image has {properties.Value.ContentLength} bytes, over the limit of {_limits.MaxBytes}");
                return (await client.DownloadContentAsync(ct)).Value.Content;
            }, cancellationToken);
        }
        catch (RequestFailedException e) when (e.Status == 404)
        {
            throw new ThumbnailUnavailableException("no such image");
        }
        return Render(content.ToArray());
    }

    private byte[] Render(byte[] bytes)
    {
        try
        {
            // Header only (no pixels decoded) to refuse decompression bombs before the thumbnail decodes.
            using (var header = Image.NewFromBuffer(bytes, access: Enums.Access.Sequential))
                if ((long)header.Width * header.Height > _limits.MaxPixels)
                    throw new ThumbnailUnavailableException($"image has {(long)header.Width * header.Height} pixels, over the limit of {_limits.MaxPixels}");
            using var thumbnail = Image.ThumbnailBuffer(bytes, _options.ThumbnailSize, height: _options.ThumbnailSize, size: Enums.Size.Down);
            using var rgb = thumbnail.HasAlpha() ? thumbnail.Flatten(background: [255, 255, 255]) : thumbnail.Copy();
            return rgb.JpegsaveBuffer(q: 80, keep: Enums.ForeignKeep.None);
        }
        catch (VipsException)
        {
            throw new ThumbnailUnavailableException("not a decodable image");
        }
    }
}

/// <summary>Where a page's <c>&lt;img src&gt;</c> for a stored image points: an authorized route, or the bytes themselves.</summary>
public interface IImageLinks
{
    /// <summary>The <c>src</c> of the image's thumbnail; null when there is none to show.</summary>
    Task<string?> ThumbnailAsync(string container, string blob, CancellationToken cancellationToken);
}

/// <summary>
/// Thumbnails through <c>GET /api/thumbnails/{container}/{*blob}</c>, which checks the function key like every
/// other API route; the page's own <c>code</c> (when it arrived with one) is carried into each link.
/// </summary>
public sealed class RouteImageLinks(string routeBase = "/api/thumbnails", string? functionKey = null) : IImageLinks
{
    public Task<string?> ThumbnailAsync(string container, string blob, CancellationToken cancellationToken)
    {
        var path = string.Join('/', blob.Split('/').Select(Uri.EscapeDataString));
        var query = string.IsNullOrEmpty(functionKey) ? "" : "?code=" + Uri.EscapeDataString(functionKey);
        return Task.FromResult<string?>($"{routeBase}/{Uri.EscapeDataString(container)}/{path}{query}");
    }
}

/// <summary>Thumbnails embedded as <c>data:</c> URIs, for a self-contained file that opens offline.</summary>
public sealed class EmbeddedImageLinks(ThumbnailService thumbnails) : IImageLinks
{
    public async Task<string?> ThumbnailAsync(string container, string blob, CancellationToken cancellationToken)
    {
        try
        {
            return "data:image/jpeg;base64," + Convert.ToBase64String(await thumbnails.GetAsync(container, blob, cancellationToken));
        }
        catch (ThumbnailUnavailableException)
        {
            return null;
        }
    }
}
