using ConvNeXt.Batch.Scoring;
using System.Net;
using System.Net.Http.Headers;

namespace ConvNeXt.Batch.Cli.Fetching;

/// <summary>A download that failed: offline, refused, or the server answered with an error.</summary>
public sealed class WeightsDownloadException(string message, Exception? inner = null) : Exception(message, inner);

/// <summary>A completed download whose sha256 is not the published one.</summary>
public sealed class WeightsIntegrityException(string message) : Exception(message);

public sealed record WeightsDownloaderOptions
{
    public TimeSpan Timeout { get; init; } = TimeSpan.FromMinutes(30);
    public int BufferSize { get; init; } = 1 << 20;
}

public sealed record DownloadResult(string Path, string Sha256, long Length, long ResumedFrom, bool AlreadyPresent);

/// <summary>
/// Downloads one file into <c>destination.part</c>, resuming a previous partial download with an
/// HTTP Range request, then checks its sha256 and moves it into place. A file already present
/// with the right digest is not downloaded again.
/// </summary>
public sealed class WeightsDownloader(HttpClient http, WeightsDownloaderOptions? options = null)
{
    private readonly WeightsDownloaderOptions _options = options ?? new();

    /// <param name="expectedSha256">Full hex digest, a hex prefix (MindCV names), or null to accept any.</param>
    public async Task<DownloadResult> DownloadAsync(Uri address, string destination, string? expectedSha256,
        IProgress<(long Done, long? Total)>? progress = null, CancellationToken cancellationToken = default)
    {
        if (File.Exists(destination))
        {
            var existing = await FileSha256.ComputeAsync(destination, cancellationToken);
            if (Matches(existing, expectedSha256))
                return new DownloadResult(destination, existing, new FileInfo(destination).Length, 0, AlreadyPresent: true);
        }

        var part = destination + ".part";
        Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(destination))!);
        var resumedFrom = File.Exists(part) ? new FileInfo(part).Length : 0;

        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(_options.Timeout);
        using var request = new HttpRequestMessage(HttpMethod.Get, address);
        if (resumedFrom > 0)
            request.Headers.Range = new RangeHeaderValue(resumedFrom, null);

        HttpResponseMessage response;
        try
        {
            response = await http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, timeout.Token);
        }
        catch (HttpRequestException e)
        {
            throw new WeightsDownloadException(
                $"cannot download {address}: {e.Message} (offline? download the file by other means and use 'model build --weights FILE')", e);
        }
        catch (OperationCanceledException e) when (!cancellationToken.IsCancellationRequested)
        {
            throw new WeightsDownloadException($"download of {address} timed out after {_options.Timeout}", e);
        }

        using (response)
        {
            if (response.StatusCode == HttpStatusCode.RequestedRangeNotSatisfiable && resumedFrom > 0)
            {
                // The part file is already complete (or longer than the resource): let the digest decide.
            }
            else if (!response.IsSuccessStatusCode)
            {
                throw new WeightsDownloadException($"cannot download {address}: HTTP {(int)response.StatusCode} {response.ReasonPhrase}");
            }
            else
            {
                var append = resumedFrom > 0 && response.StatusCode == HttpStatusCode.PartialContent;
                if (!append)
                    resumedFrom = 0; // the server ignored the range: start again
                long? total = response.Content.Headers.ContentLength is { } length ? length + resumedFrom : null;
                await using var file = new FileStream(part, append ? FileMode.Append : FileMode.Create, FileAccess.Write, FileShare.None, _options.BufferSize, useAsync: true);
                try
                {
                    await using var body = await response.Content.ReadAsStreamAsync(timeout.Token);
                    var buffer = new byte[_options.BufferSize];
                    var done = resumedFrom;
                    int read;
                    while ((read = await body.ReadAsync(buffer, timeout.Token)) > 0)
                    {
                        await file.WriteAsync(buffer.AsMemory(0, read), timeout.Token);
                        done += read;
                        progress?.Report((done, total));
                    }
                    if (total is { } expected && done < expected)
                        throw new WeightsDownloadException($"download of {address} ended early at {done} of {expected} bytes; run the command again to resume");
                }
                catch (Exception e) when (e is IOException or HttpRequestException)
                {
                    throw new WeightsDownloadException($"download of {address} was interrupted ({e.Message}); run the command again to resume", e);
                }
                catch (OperationCanceledException e) when (!cancellationToken.IsCancellationRequested)
                {
                    throw new WeightsDownloadException($"download of {address} timed out after {_options.Timeout}; run the command again to resume", e);
                }
            }
        }

        var digest = await FileSha256.ComputeAsync(part, cancellationToken);
        if (!Matches(digest, expectedSha256))
        {
            // A corrupt part file must not be resumed from: it would never match.
            File.Delete(part);
            throw new WeightsIntegrityException(
                $"sha256 mismatch for {address}: expected {expectedSha256}, got {digest}; the download was discarded");
        }
        var downloaded = new FileInfo(part).Length;
        File.Move(part, destination, overwrite: true);
        return new DownloadResult(destination, digest, downloaded, resumedFrom, AlreadyPresent: false);
    }


    private static bool Matches(string digest, string? expected) =>
        expected is null || digest.StartsWith(expected.Trim().ToLowerInvariant(), StringComparison.Ordinal) && expected.Trim().Length >= 8;
}
