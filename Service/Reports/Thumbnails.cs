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
/// and the scoring limits apply: bytes before the download (which is conditional on the ETag whose size was
/// checked), pixels before anything is decoded, and the decode timeout to the decode.
/// </summary>
public sealed class ThumbnailService(StorageAccount storage, ReportOptions options, ImageLimits? limits = null)
{
    private readonly ReportOptions _options = options;
    private readonly IReadOnlySet<string> _containers = options.AllowedThumbnailContainers();
    private readonly ImageLimits _limits = limits ?? ImageLimits.Default;

    /// <summary>JPEG bytes of the thumbnail.</summary>
    /// <exception cref="ThumbnailUnavailableException">Not allowed, missing, too large or not decodable.</exception>
    /// <exception cref="RequestFailedException">Storage failed through every retry (transient: the caller answers 5xx).</exception>
    public async Task<byte[]> GetAsync(string container, string blob, CancellationToken cancellationToken = default)
    {
        if (BlobNames.ContainerProblem(container) is { } containerProblem)
            throw new ThumbnailUnavailableException(containerProblem);
        if (!_containers.Contains(container))
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
                // Only the blob whose size was checked: one replaced in between fails the condition (412); the next request reads it anew.
                return (await client.DownloadContentAsync(new Azure.Storage.Blobs.Models.BlobDownloadOptions
                {
                    Conditions = new Azure.Storage.Blobs.Models.BlobRequestConditions { IfMatch = properties.Value.ETag },
                }, ct)).Value.Content;
            }, cancellationToken);
        }
        catch (RequestFailedException e) when (e.Status == 404)
        {
            throw new ThumbnailUnavailableException("no such image");
        }
        catch (RequestFailedException e) when (e.Status == 412)
        {
            throw new ThumbnailUnavailableException("the image changed while it was read");
        }
        return Render(content.ToArray());
    }

    private string TimeoutMessage => $"decoding took longer than {_limits.DecodeTimeout.TotalMilliseconds:N0} ms";

    private byte[] Render(byte[] bytes)
    {
        var started = System.Diagnostics.Stopwatch.GetTimestamp();
        using var timeout = _limits.DecodeTimeout == Timeout.InfiniteTimeSpan ? null : new CancellationTokenSource(_limits.DecodeTimeout);
        try
        {
            // Header only (no pixels decoded) to refuse decompression bombs before the thumbnail decodes.
            using (var header = Image.NewFromBuffer(bytes, access: Enums.Access.Sequential))
                if ((long)header.Width * header.Height > _limits.MaxPixels)
                    throw new ThumbnailUnavailableException($"image has {(long)header.Width * header.Height} pixels, over the limit of {_limits.MaxPixels}");
            using var thumbnail = Image.ThumbnailBuffer(bytes, _options.ThumbnailSize, height: _options.ThumbnailSize, size: Enums.Size.Down);
            using var rgb = thumbnail.HasAlpha() ? thumbnail.Flatten(background: [255, 255, 255]) : thumbnail.Copy();
            // The decode runs in the save; libvips checks the token between tiles, and the clock after.
            if (timeout is not null)
                rgb.SetProgress(new Progress<int>(), timeout.Token);
            var jpeg = rgb.JpegsaveBuffer(q: 80, keep: Enums.ForeignKeep.None);
            if (timeout is not null && System.Diagnostics.Stopwatch.GetElapsedTime(started) > _limits.DecodeTimeout)
                throw new ThumbnailUnavailableException(TimeoutMessage);
            return jpeg;
        }
        catch (VipsException) when (timeout?.IsCancellationRequested == true)
        {
            throw new ThumbnailUnavailableException(TimeoutMessage);
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
/// Thumbnails through <c>GET /api/thumbnails/{container}/{*blob}</c>. Each link carries a short-lived token for that
/// one image (<see cref="ReportLinkTokens"/>), never the function key: the route accepts either.
/// </summary>
public sealed class RouteImageLinks(string routeBase = "/api/thumbnails", ReportLinkTokens? tokens = null) : IImageLinks
{
    /// <summary>What a thumbnail token opens: the container and the blob name, as the route binds them.</summary>
    public static string Scope(string container, string blob) => container + "/" + blob;

    public Task<string?> ThumbnailAsync(string container, string blob, CancellationToken cancellationToken)
    {
        var path = string.Join('/', blob.Split('/').Select(Uri.EscapeDataString));
        var query = tokens is null ? "" : $"?{ReportLinkTokens.QueryName}={tokens.Issue(Scope(container, blob))}";
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
