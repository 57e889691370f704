using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Azure;
using Azure.Storage.Blobs.Models;
using Azure.Storage.Blobs.Specialized;
using ConvNeXt.Batch.Service.Contracts;
using ConvNeXt.Batch.Service.Storage;

namespace ConvNeXt.Batch.Service.Validation;

/// <summary>
/// What a plan holds: each chunk's byte range, the image count, and the dataset digest: the SHA-256 of every plan line each
/// followed by its blob's content MD5 as listed (its ETag when storage keeps none), so a dataset whose images were rewritten under the
/// same names has another digest, and the same images uploaded again the same one.
/// </summary>
public sealed record RunPlanSummary(IReadOnlyList<ChunkRange> Chunks, int ImageCount, string Sha256, long Bytes);

/// <summary>
/// A run's plan: its labelled images, one JSON line each (<c>{"blob":…,"label":…}</c>), written once when the run is
/// created to <c>validation-runs/{runId}/plan-*.jsonl</c>. Chunk <c>i</c> is a contiguous byte range of it; a chunk
/// message carries only that range and its SHA-256 (signed), so messages have a constant size whatever the names,
/// and neither the creator nor a worker ever holds more than one chunk's items (plus one block being written).
/// </summary>
public static class RunPlan
{
    /// <summary>The largest chunk range a worker reads: 1,000 items of 1,024-character names that JSON escapes to 6 bytes a character.</summary>
    public const int MaxChunkBytes = 8 * 1024 * 1024;

    /// <summary>A new plan's blob name; unique per attempt, so two racing creators never write each other's plan.</summary>
    public static string NewBlobName(string runId) => $"{runId}/plan-{Guid.NewGuid():N}.jsonl";

    /// <summary>One item as a plan line (UTF-8, newline-terminated): the bytes a chunk's range and digest cover.</summary>
    public static byte[] Line(LabelledBlob item)
    {
        var json = JsonSerializer.SerializeToUtf8Bytes(item, ContractJson.Options);
        var line = new byte[json.Length + 1];
        json.CopyTo(line, 0);
        line[^1] = (byte)'\n';
        return line;
    }

    /// <summary>
    /// Reads chunk <paramref name="range"/> of plan <paramref name="planBlob"/> and returns its items. Storage outages
    /// propagate and a 403 is a <see cref="Services.StorageUnavailableException"/> (transient: the delivery is retried); a plan that is gone, shorter than the range, or whose bytes
    /// differ from the signed digest is an <see cref="InvalidChunkException"/> (permanent).
    /// </summary>
    public static async Task<IReadOnlyList<LabelledBlob>> ReadChunkAsync(StorageAccount storage, string planBlob, ChunkRange range,
        CancellationToken cancellationToken = default)
    {
        var blob = storage.Container(ContainerNames.ValidationRuns).GetBlobClient(planBlob);
        byte[] bytes;
        try
        {
            bytes = await storage.Resilience.ExecuteAsync(async ct =>
                (await blob.DownloadContentAsync(new BlobDownloadOptions { Range = new HttpRange(range.Offset, range.Length) }, ct)).Value.Content.ToArray(),
                cancellationToken);
        }
        catch (RequestFailedException e) when (e.Status == 403)
        {
            // The run's own plan, which this identity must be able to read: a refusal is a role still propagating
            // after a deploy (or revoked), not a property of the chunk. Redeliver.
            throw new Services.StorageUnavailableException($"the run's plan cannot be read now (storage answered 403 {e.ErrorCode})", e);
        }
        catch (RequestFailedException e) when (StorageFailures.Classify(e, cancellationToken) == StorageFailureKind.Permanent)
        {
            throw new InvalidChunkException($"the run's plan cannot be read at the chunk's range (storage answered {e.Status} {e.ErrorCode})");
        }
        if (bytes.Length != range.Length || !Convert.ToHexStringLower(SHA256.HashData(bytes)).Equals(range.Sha256, StringComparison.Ordinal))
            throw new InvalidChunkException("the plan's bytes at the chunk's range are not the ones the run signed");
        var items = new List<LabelledBlob>(range.Count);
        var start = 0;
        for (var i = 0; i < bytes.Length; i++)
        {
            if (bytes[i] != (byte)'\n')
                continue;
            items.Add(JsonSerializer.Deserialize<LabelledBlob>(bytes.AsSpan(start, i - start), ContractJson.Options)
                      ?? throw new InvalidChunkException($"plan line {items.Count} of the chunk is null"));
            start = i + 1;
        }
        if (start != bytes.Length || items.Count != range.Count)
            throw new InvalidChunkException($"the chunk's plan range holds {items.Count} complete lines, not {range.Count}");
        return items;
    }
}

/// <summary>
/// Writes a plan while the dataset is listed: items go in one at a time, each full chunk becomes a
/// <see cref="ChunkRange"/>, and the bytes go to storage in blocks of <see cref="BlockBytes"/>, staged (invisible) until
/// <see cref="CommitAsync"/>. With no blob it only measures (the ranges and digest of a re-created run's plan).
/// </summary>
public sealed class RunPlanWriter(int chunkSize, BlockBlobClient? blob, StorageAccount storage)
{
    /// <summary>Bytes per staged block: few requests, and a bounded buffer whatever the dataset's size.</summary>
    public const int BlockBytes = 4 * 1024 * 1024;

    private readonly IncrementalHash _dataset = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
    private readonly IncrementalHash _chunk = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
    private readonly MemoryStream _block = new();
    private readonly List<ChunkRange> _chunks = [];
    private readonly List<string> _blockIds = [];
    private long _offset;
    private long _chunkStart;
    private int _chunkCount;
    private int _images;

    /// <param name="etag">What identifies the blob's bytes as listed (content MD5, else ETag): part of the dataset digest, not of the plan line.</param>
    public async Task AddAsync(LabelledBlob item, string? etag, CancellationToken cancellationToken = default)
    {
        var line = RunPlan.Line(item);
        _dataset.AppendData(line);
        _dataset.AppendData(Encoding.UTF8.GetBytes((etag ?? "").Trim('"') + "\n"));
        _chunk.AppendData(line);
        _block.Write(line);
        _offset += line.Length;
        _images++;
        if (++_chunkCount == chunkSize)
            CloseChunk();
        if (_block.Length >= BlockBytes)
            await StageAsync(cancellationToken);
    }

    /// <summary>Closes the last chunk and stages what is left; nothing is visible until <see cref="CommitAsync"/>.</summary>
    public async Task<RunPlanSummary> FinishAsync(CancellationToken cancellationToken = default)
    {
        if (_chunkCount > 0)
            CloseChunk();
        if (_block.Length > 0)
            await StageAsync(cancellationToken);
        return new RunPlanSummary(_chunks, _images, Convert.ToHexStringLower(_dataset.GetHashAndReset()), _offset);
    }

    /// <summary>Makes the staged blocks the plan blob, in one request.</summary>
    public async Task CommitAsync(CancellationToken cancellationToken = default)
    {
        if (blob is null)
            return;
        await storage.Resilience.ExecuteAsync(async ct => { await blob.CommitBlockListAsync(_blockIds, cancellationToken: ct); }, cancellationToken);
    }

    private void CloseChunk()
    {
        var length = _offset - _chunkStart;
        _chunks.Add(new ChunkRange(_chunkStart, checked((int)length), _chunkCount, Convert.ToHexStringLower(_chunk.GetHashAndReset())));
        _chunkStart = _offset;
        _chunkCount = 0;
    }

    private async Task StageAsync(CancellationToken cancellationToken)
    {
        if (blob is not null)
        {
            var id = Convert.ToBase64String(Encoding.ASCII.GetBytes($"block-{_blockIds.Count:D8}"));
            var bytes = _block.ToArray();
            await storage.Resilience.ExecuteAsync(async ct =>
            {
                using var content = new MemoryStream(bytes, writable: false);
                await blob.StageBlockAsync(id, content, cancellationToken: ct);
            }, cancellationToken);
            _blockIds.Add(id);
        }
        _block.SetLength(0);
    }
}
