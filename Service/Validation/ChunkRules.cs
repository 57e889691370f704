using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using ConvNeXt.Batch.Service.Contracts;
using ConvNeXt.Batch.Service.Storage;

namespace ConvNeXt.Batch.Service.Validation;

/// <summary>
/// A chunk message that must not be scored or counted (malformed, forged, for another run or another
/// model). Permanent: the message is completed with a logged rejection, never retried.
/// </summary>
public sealed class InvalidChunkException(string reason) : Exception(reason);

/// <summary>
/// What a chunk message must satisfy before anything is read or written for it. Reasons name fields and
/// numbers, never blob names or other message content.
/// </summary>
public static class ChunkRules
{
    /// <summary>Null when the message is well formed on its own (no nulls, safe names, index in its own range).</summary>
    public static string? Problem(ValidationChunkMessage? chunk)
    {
        if (chunk is null)
            return "the message is empty";
        if (chunk.RunId is null || RunIds.Problem(chunk.RunId) is not null)
            return "runId is missing or not a run id";
        if (chunk.Container is null)
            return "container is missing";
        if (BlobNames.ContainerProblem(chunk.Container) is { } container)
            return container;
        if (chunk.ChunkCount < 1)
            return $"chunkCount {chunk.ChunkCount} is not positive";
        if (chunk.ChunkIndex < 0 || chunk.ChunkIndex >= chunk.ChunkCount)
            return $"chunkIndex {chunk.ChunkIndex} is outside 0..{chunk.ChunkCount - 1}";
        if (chunk.Items is null || chunk.Items.Count == 0)
            return "items is missing or empty";
        if (string.IsNullOrEmpty(chunk.Signature))
            return "signature is missing";
        for (var i = 0; i < chunk.Items.Count; i++)
        {
            var item = chunk.Items[i];
            if (item is null)
                return $"item {i} is null";
            if (BlobNames.Problem(item.Blob) is { } blob)
                return $"item {i}: {blob}";
            if (item.Label < 0)
                return $"item {i}: label {item.Label} is negative";
        }
        if (chunk.Items.Select(i => i.Blob).Distinct(StringComparer.Ordinal).Count() != chunk.Items.Count)
            return "items name a blob twice";
        return null;
    }

    /// <summary>Null when the (well-formed) message is one the run planned: same shape, container, and signature.</summary>
    public static string? Problem(ValidationChunkMessage chunk, ValidationRunEntity run, int classCount)
    {
        if (chunk.ChunkCount != run.ChunkCount)
            return $"chunkCount {chunk.ChunkCount} differs from the run's {run.ChunkCount}";
        if (chunk.ChunkIndex >= run.ChunkCount)
            return $"chunkIndex {chunk.ChunkIndex} is outside the run's 0..{run.ChunkCount - 1}";
        if (!string.Equals(chunk.Container, run.DatasetContainer, StringComparison.Ordinal))
            return "container differs from the run's dataset container";
        if (chunk.Items.Count > run.ChunkSize)
            return $"{chunk.Items.Count} items, more than the run's chunk size {run.ChunkSize}";
        if (chunk.Items.FirstOrDefault(i => i.Label >= classCount) is { } item)
            return $"label {item.Label} is outside the model's 0..{classCount - 1}";
        if (run.ChunkSigningKey is null || !Verify(chunk, run.ChunkSigningKey))
            return "signature does not match the run (the items or labels are not the ones the run planned)";
        return null;
    }

    /// <summary>
    /// Largest chunk message body planned, in UTF-8 bytes as <see cref="ContractJson.Options"/> writes it. Service Bus
    /// Standard takes messages up to 256 KB, headers and application properties included (the sending host adds a
    /// <c>Diagnostic-Id</c>); 192 KiB leaves room for them.
    /// </summary>
    public const int MaxMessageBytes = 192 * 1024;

    /// <summary>Bytes a message takes besides its items: run id (≤ 100), container (≤ 63), signature (44), numbers, field names.</summary>
    private const int EnvelopeBytes = 1024;

    /// <summary>
    /// The run's chunks: consecutive slices of at most <paramref name="chunkSize"/> items and at most
    /// <see cref="MaxMessageBytes"/> serialized, so long blob names (up to 1,024 characters, each escaped to up to
    /// 6 bytes) make more, smaller chunks instead of messages Service Bus refuses. Deterministic: the same list
    /// gives the same slices, so a re-created run re-signs the same chunks.
    /// </summary>
    public static ChunkSlices Slices(IReadOnlyList<LabelledBlob> items, int chunkSize)
    {
        var slices = new List<LabelledBlob[]>((items.Count + chunkSize - 1) / chunkSize);
        var current = new List<LabelledBlob>(Math.Min(chunkSize, items.Count));
        var bytes = EnvelopeBytes;
        long total = 0;
        foreach (var item in items)
        {
            var itemBytes = JsonSerializer.SerializeToUtf8Bytes(item, ContractJson.Options).Length + 1;
            if (current.Count > 0 && (current.Count == chunkSize || bytes + itemBytes > MaxMessageBytes))
            {
                slices.Add([.. current]);
                total += bytes;
                current.Clear();
                bytes = EnvelopeBytes;
            }
            current.Add(item);
            bytes += itemBytes;
        }
        if (current.Count > 0)
        {
            slices.Add([.. current]);
            total += bytes;
        }
        return new ChunkSlices(slices, total);
    }

    /// <summary>A fresh signing key for a new run.</summary>
    public static string NewKey() => Convert.ToBase64String(RandomNumberGenerator.GetBytes(32));

    /// <summary>The message with its signature under <paramref name="key"/>.</summary>
    public static ValidationChunkMessage Sign(ValidationChunkMessage chunk, string key) => chunk with { Signature = Signature(chunk, key) };

    /// <summary>SHA-256 (hex) of a dataset's (blob, label) list in order: what a re-created run must match.</summary>
    public static string DatasetDigest(IEnumerable<LabelledBlob> items)
    {
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        foreach (var item in items)
            hash.AppendData(Encoding.UTF8.GetBytes(ItemLine(item)));
        return Convert.ToHexStringLower(hash.GetHashAndReset());
    }

    private static bool Verify(ValidationChunkMessage chunk, string key)
    {
        var expected = Encoding.ASCII.GetBytes(Signature(chunk, key));
        var given = Encoding.ASCII.GetBytes(chunk.Signature ?? "");
        return CryptographicOperations.FixedTimeEquals(expected, given);
    }

    private static string Signature(ValidationChunkMessage chunk, string key)
    {
        using var hmac = IncrementalHash.CreateHMAC(HashAlgorithmName.SHA256, Convert.FromBase64String(key));
        // Fields joined with separators that cannot occur in them (run ids and container names are restricted;
        // blob names are checked to hold no control characters), so two different messages never share a text.
        hmac.AppendData(Encoding.UTF8.GetBytes(string.Create(CultureInfo.InvariantCulture,
            $"{chunk.RunId}\n{chunk.ChunkIndex}\n{chunk.ChunkCount}\n{chunk.Container}\n")));
        foreach (var item in chunk.Items)
            hmac.AppendData(Encoding.UTF8.GetBytes(ItemLine(item)));
        return Convert.ToBase64String(hmac.GetHashAndReset());
    }

    private static string ItemLine(LabelledBlob item) => string.Create(CultureInfo.InvariantCulture, $"{item.Blob}\u0000{item.Label}\n");
}

/// <summary>A run's chunks and an upper bound of their messages' total size in bytes.</summary>
public sealed record ChunkSlices(IReadOnlyList<LabelledBlob[]> Slices, long MessageBytes);

/// <summary>Run ids: 1–100 letters, digits, '-', '_' or '.' (they are table keys and appear in URLs).</summary>
public static class RunIds
{
    public static string? Problem(string? runId) =>
        string.IsNullOrEmpty(runId) || runId.Length > 100 || !runId.All(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '_' or '.')
            ? "a run id is 1-100 characters of letters, digits, '-', '_' or '.'"
            : null;
}
