using System.Text.Json.Serialization;

namespace ConvNeXt.Batch.Service.Contracts;

/// <summary>Body of <c>POST /api/validation-runs</c> (every field optional; defaults come from settings).</summary>
public sealed record ValidationRunRequest
{
    /// <summary>Container holding the labelled images (default <c>validation</c>).</summary>
    public string? Container { get; init; }

    /// <summary>Blob name prefix of the images, e.g. <c>val100/</c>.</summary>
    public string? Prefix { get; init; }

    /// <summary>
    /// Where labels come from: a blob path of a <c>val.txt</c>-style list (<c>name index</c> per line;
    /// in the dataset container, or <c>container/path</c> when it starts with another container's name and
    /// a slash), <c>names</c> (<c>&lt;wnid&gt;_*.JPEG</c>), or <c>folders</c> (ImageFolder layout
    /// <c>prefix/&lt;wnid&gt;/file</c>).
    /// </summary>
    public string? Labels { get; init; }

    /// <summary>Images per chunk message (default <c>Validation__ChunkSize</c>, 100).</summary>
    public int? ChunkSize { get; init; }

    /// <summary>Optional caller-chosen run id (makes a retried POST idempotent).</summary>
    public string? RunId { get; init; }

    /// <summary>
    /// The repository model to validate: <c>NAME@VERSION</c>, or <c>NAME</c> for its promoted version (default:
    /// <c>ValidationDefaults__Model</c>, else the <c>default</c> alias, else the deployed model).
    /// </summary>
    public string? Model { get; init; }
}

/// <summary>
/// One message on <c>validation-chunks</c>: chunk <see cref="ChunkIndex"/> of a run, by reference. The items are the
/// byte range <see cref="Plan"/> of the run's plan blob (named in the run row, never in the message), so a message has
/// the same few hundred bytes whatever the chunk size or the blob names.
/// </summary>
public sealed record ValidationChunkMessage
{
    [JsonPropertyName("runId")] public required string RunId { get; init; }
    [JsonPropertyName("chunkIndex")] public required int ChunkIndex { get; init; }
    [JsonPropertyName("chunkCount")] public required int ChunkCount { get; init; }
    [JsonPropertyName("container")] public required string Container { get; init; }
    [JsonPropertyName("plan")] public required ChunkRange Plan { get; init; }

    /// <summary>
    /// HMAC-SHA256 of the fields above under the run's own key (kept in its run row): a chunk that was not
    /// planned by the run (forged, edited, or from another run) is rejected before anything is read or written,
    /// and the range's SHA-256 makes the plan bytes it names exactly the ones the run wrote.
    /// </summary>
    [JsonPropertyName("signature")] public string? Signature { get; init; }
}

/// <summary>A chunk's place in its run's plan: <see cref="Count"/> JSON lines at bytes <see cref="Offset"/>.., and their SHA-256 (hex).</summary>
public sealed record ChunkRange(
    [property: JsonPropertyName("offset")] long Offset,
    [property: JsonPropertyName("length")] int Length,
    [property: JsonPropertyName("count")] int Count,
    [property: JsonPropertyName("sha256")] string Sha256);

/// <summary>A blob and its true class index (ImageNet order).</summary>
public sealed record LabelledBlob(
    [property: JsonPropertyName("blob")] string Blob,
    [property: JsonPropertyName("label")] int Label);
