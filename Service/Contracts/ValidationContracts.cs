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
}

/// <summary>One message on <c>validation-chunks</c>: a slice of a run's labelled images.</summary>
public sealed record ValidationChunkMessage
{
    [JsonPropertyName("runId")] public required string RunId { get; init; }
    [JsonPropertyName("chunkIndex")] public required int ChunkIndex { get; init; }
    [JsonPropertyName("chunkCount")] public required int ChunkCount { get; init; }
    [JsonPropertyName("container")] public required string Container { get; init; }
    [JsonPropertyName("items")] public required IReadOnlyList<LabelledBlob> Items { get; init; }

    /// <summary>
    /// HMAC-SHA256 of the fields above under the run's own key (kept in its run row): a chunk that was not
    /// planned by the run (forged, edited, or from another run) is rejected before anything is read or written.
    /// </summary>
    [JsonPropertyName("signature")] public string? Signature { get; init; }
}

/// <summary>A blob and its true class index (ImageNet order).</summary>
public sealed record LabelledBlob(
    [property: JsonPropertyName("blob")] string Blob,
    [property: JsonPropertyName("label")] int Label);
