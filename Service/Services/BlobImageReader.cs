using System.Diagnostics;
using Azure;
using ConvNeXt.Batch.Service.Observability;
using ConvNeXt.Batch.Service.Storage;

namespace ConvNeXt.Batch.Service.Services;

/// <summary>
/// Downloads one image blob for scoring, within <see cref="ScoringOptions.EffectiveMaxBlobBytes"/>, and records on
/// its <see cref="BlobWork"/> what went wrong: too large or deleted (permanent: the image becomes an error
/// row) or storage unavailable through every retry (transient: the caller fails its invocation).
/// Shared by event scoring and validation chunks so both honour the same configured limits.
/// </summary>
public sealed class BlobImageReader(StorageAccount storage, ScoringOptions options)
{
    public long MaxBlobBytes => options.EffectiveMaxBlobBytes;

    public async ValueTask<ReadOnlyMemory<byte>> ReadAsync(BlobWork work, CancellationToken cancellationToken)
    {
        var started = Stopwatch.GetTimestamp();
        using var span = options.ImageSpans ? PipelineTracing.StartStage("download", ActivityKind.Client) : null;
        span?.SetTag("convnext.blob", $"{work.Blob.Container}/{work.Blob.Name}");
        var client = storage.Container(work.Blob.Container).GetBlobClient(work.Blob.Name);
        try
        {
            if (work.Blob.ContentLength > MaxBlobBytes)
            {
                work.TooLarge = true;
                throw new InvalidDataException($"the blob has {work.Blob.ContentLength} bytes, more than the {MaxBlobBytes} allowed{Budget()}");
            }
            return await storage.Resilience.ExecuteAsync(async ct =>
            {
                // Streaming, so the size is known from the headers before the body is read.
                using var response = (await client.DownloadStreamingAsync(cancellationToken: ct)).Value;
                if (response.Details.ContentLength > MaxBlobBytes)
                {
                    work.TooLarge = true;
                    throw new InvalidDataException($"the blob has {response.Details.ContentLength} bytes, more than the {MaxBlobBytes} allowed{Budget()}");
                }
                var buffer = new byte[response.Details.ContentLength];
                await response.Content.ReadExactlyAsync(buffer, ct);
                work.ETag = response.Details.ETag.ToString();
                return (ReadOnlyMemory<byte>)buffer;
            }, cancellationToken);
        }
        catch (RequestFailedException e) when (e.Status == 404)
        {
            work.Missing = true;
            throw;
        }
        catch (Exception e) when (StorageFailures.IsTransient(e, cancellationToken))
        {
            work.StorageFailure = e;
            throw;
        }
        finally
        {
            work.DownloadTime = Stopwatch.GetElapsedTime(started);
        }
    }

    private string Budget() => MaxBlobBytes < options.MaxBlobBytes
        ? $" (Scoring__MaxBatchBytes {options.MaxBatchBytes} shared by {options.MaxBatchMessages} messages)"
        : "";
}

/// <summary>One blob on its way through the scoring pipeline (the pipeline's per-input state).</summary>
public sealed class BlobWork(BlobReference blob)
{
    public BlobReference Blob { get; } = blob;
    public string? ETag { get; set; }
    public bool Missing { get; set; }
    public bool TooLarge { get; set; }
    /// <summary>Set when storage failed transiently through every retry: nothing may be written for this blob.</summary>
    public Exception? StorageFailure { get; set; }
    public TimeSpan DownloadTime { get; set; }
}
