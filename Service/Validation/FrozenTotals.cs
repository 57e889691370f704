using System.Security.Cryptography;
using Azure;
using Azure.Storage.Blobs.Models;
using ConvNeXt.Batch.Scoring.Evaluation;
using ConvNeXt.Batch.Service.Storage;

namespace ConvNeXt.Batch.Service.Validation;

/// <summary>
/// A completed run's summed <see cref="AccuracyCounts"/>, frozen in one blob (<c>validation-runs/{runId}/totals.json</c>)
/// when the run is finalized, so that reading a completed run costs its row and one blob instead of every chunk row.
/// The run row records the blob and its SHA-256; a reader believes the blob only when the digest matches.
/// </summary>
public static class FrozenTotals
{
    public static string BlobName(string runId) => $"{runId}/totals.json";

    /// <summary>
    /// Writes <paramref name="sum"/> (canonical JSON: the same chunk rows give the same bytes, so a losing concurrent
    /// finalizer overwrites it with itself) and returns the blob's name and SHA-256 for the run row.
    /// </summary>
    /// <remarks>A storage failure propagates (transient ones after the pipeline's retries): the finalizer then writes no run row.</remarks>
    public static async Task<(string Blob, string Sha256)> WriteAsync(StorageAccount storage, string runId, AccuracyCounts sum,
        CancellationToken cancellationToken = default)
    {
        var bytes = BinaryData.FromString(sum.ToJson());
        var name = BlobName(runId);
        var container = storage.Container(ContainerNames.ValidationRuns);
        // Bicep creates the container; Azurite and older accounts may lack it. Once per run, so the extra request is cheap.
        await storage.Resilience.ExecuteAsync(async ct => await container.CreateIfNotExistsAsync(cancellationToken: ct), cancellationToken);
        var options = new BlobUploadOptions { HttpHeaders = new BlobHttpHeaders { ContentType = "application/json" } };
        await storage.Resilience.ExecuteAsync(async ct => await container.GetBlobClient(name).UploadAsync(bytes, options, ct), cancellationToken);
        return (name, Sha256(bytes));
    }

    /// <summary>
    /// The frozen counts of <paramref name="run"/> (<see cref="AccuracyCounts"/> JSON, digest verified); or none when it
    /// has none (not completed, or completed before totals were frozen), and none with the problem when the blob is gone
    /// or its bytes are not the ones recorded (overwritten by hand, or by a losing finalizer that summed chunk rows a
    /// late redelivery had changed). Either way the caller sums the chunk rows. Transient storage failures propagate.
    /// </summary>
    public static async Task<(string? CountsJson, string? Problem)> ReadAsync(StorageAccount storage, ValidationRunEntity run,
        CancellationToken cancellationToken = default)
    {
        if (run.Status != RunStatus.Completed || run.TotalsBlob is null || run.TotalsSha256 is null)
            return (null, null);
        var blob = storage.Container(ContainerNames.ValidationRuns).GetBlobClient(run.TotalsBlob);
        BinaryData bytes;
        try
        {
            bytes = await storage.Resilience.ExecuteAsync(async ct => (await blob.DownloadContentAsync(ct)).Value.Content, cancellationToken);
        }
        catch (RequestFailedException e) when (e.Status == 404)
        {
            return (null, "the blob is missing");
        }
        if (!string.Equals(Sha256(bytes), run.TotalsSha256, StringComparison.OrdinalIgnoreCase))
            return (null, "the blob does not match the SHA-256 on the run row");
        return (bytes.ToString(), null);
    }

    private static string Sha256(BinaryData bytes) => Convert.ToHexStringLower(SHA256.HashData(bytes.ToMemory().Span));
}
