using System.Globalization;
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
    /// <summary>Null when the message is well formed on its own (no nulls, a plausible range, index in its own range).</summary>
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
        if (chunk.Plan is not { } plan)
            return "plan is missing";
        if (plan.Offset < 0 || plan.Length < 1 || plan.Length > RunPlan.MaxChunkBytes)
            return $"plan range {plan.Offset}+{plan.Length} is not inside 0..{RunPlan.MaxChunkBytes} bytes per chunk";
        if (plan.Count < 1)
            return $"plan count {plan.Count} is not positive";
        if (plan.Sha256 is not { Length: 64 } digest || !digest.All(char.IsAsciiHexDigitLower))
            return "plan sha256 is not a SHA-256 in lower-case hex";
        if (string.IsNullOrEmpty(chunk.Signature))
            return "signature is missing";
        return null;
    }

    /// <summary>Null when the (well-formed) message is one the run planned: same shape, container, and signature.</summary>
    public static string? Problem(ValidationChunkMessage chunk, ValidationRunEntity run)
    {
        if (chunk.ChunkCount != run.ChunkCount)
            return $"chunkCount {chunk.ChunkCount} differs from the run's {run.ChunkCount}";
        if (chunk.ChunkIndex >= run.ChunkCount)
            return $"chunkIndex {chunk.ChunkIndex} is outside the run's 0..{run.ChunkCount - 1}";
        if (!string.Equals(chunk.Container, run.DatasetContainer, StringComparison.Ordinal))
            return "container differs from the run's dataset container";
        if (chunk.Plan.Count > run.ChunkSize)
            return $"{chunk.Plan.Count} items, more than the run's chunk size {run.ChunkSize}";
        if (run.PlanBlob is null)
            return "the run has no plan blob (created by an older version)";
        if (KeyProblem(run.ChunkSigningKey) is { } key)
            return $"the run's chunk signing key {key}";
        if (!Verify(chunk, run.ChunkSigningKey!))
            return "signature does not match the run (the range, count or digest is not one the run planned)";
        return null;
    }

    /// <summary>
    /// Null when a chunk's items, read from the plan, may be scored: safe names, each once, labels inside the model's
    /// classes. The plan was written from a listing of the container, whose names are not ours to trust.
    /// </summary>
    public static string? ItemsProblem(IReadOnlyList<LabelledBlob> items, int classCount)
    {
        var names = new HashSet<string>(StringComparer.Ordinal);
        for (var i = 0; i < items.Count; i++)
        {
            var item = items[i];
            if (item is null)
                return $"item {i} is null";
            if (BlobNames.Problem(item.Blob) is { } blob)
                return $"item {i}: {blob}";
            if (item.Label < 0 || item.Label >= classCount)
                return $"item {i}: label {item.Label} is outside the model's 0..{classCount - 1}";
            if (!names.Add(item.Blob))
                return $"item {i} names a blob a previous item names";
        }
        return null;
    }

    /// <summary>Bytes of a signing key: <see cref="NewKey"/> makes these many, and a shorter one is not one it made.</summary>
    public const int KeyBytes = 32;

    /// <summary>A fresh signing key for a new run.</summary>
    public static string NewKey() => MessageSigner.NewKey();

    /// <summary>
    /// Null when <paramref name="key"/> can sign: base64 of <see cref="KeyBytes"/> bytes. A run row whose key is missing,
    /// empty or damaged must not sign or verify anything (an HMAC under an empty key is one anybody can compute).
    /// </summary>
    public static string? KeyProblem(string? key)
    {
        if (key is null)
            return "is missing";
        if (key.Length == 0)
            return "is empty";
        var bytes = new byte[key.Length];
        if (!Convert.TryFromBase64String(key, bytes, out var length))
            return "is not base64";
        return length < KeyBytes ? $"has {length} bytes, fewer than {KeyBytes}" : null;
    }

    /// <summary>The message with its signature under <paramref name="key"/>.</summary>
    public static ValidationChunkMessage Sign(ValidationChunkMessage chunk, string key) => chunk with { Signature = MessageSigner.Sign(key, Fields(chunk)) };

    private static bool Verify(ValidationChunkMessage chunk, string key) => MessageSigner.Verify(key, chunk.Signature, Fields(chunk));

    private static string[] Fields(ValidationChunkMessage chunk) =>
    [
        chunk.RunId, chunk.ChunkIndex.ToString(CultureInfo.InvariantCulture), chunk.ChunkCount.ToString(CultureInfo.InvariantCulture), chunk.Container,
        chunk.Plan.Offset.ToString(CultureInfo.InvariantCulture), chunk.Plan.Length.ToString(CultureInfo.InvariantCulture),
        chunk.Plan.Count.ToString(CultureInfo.InvariantCulture), chunk.Plan.Sha256,
    ];
}

/// <summary>
/// Run ids: 1–100 letters, digits, '-', '_' or '.', but not <c>.</c> or <c>..</c> (they are table keys, appear in URLs,
/// and are the first segment of the run's blobs, where those two would name the container's root or leave it).
/// </summary>
public static class RunIds
{
    public static string? Problem(string? runId) =>
        string.IsNullOrEmpty(runId) || runId.Length > 100 || !runId.All(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '_' or '.')
            ? "a run id is 1-100 characters of letters, digits, '-', '_' or '.'"
            : runId is "." or ".."
                ? "a run id cannot be '.' or '..'"
                : null;
}
