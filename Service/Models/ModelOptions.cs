namespace ConvNeXt.Batch.Service.Models;

/// <summary>Which model to score with. Bound from the <c>Model</c> configuration section.</summary>
public sealed class ModelOptions
{
    public const string Section = "Model";

    /// <summary>A local path, or a blob path <c>models/&lt;file&gt;.onnx</c> in the storage account.</summary>
    public string? Location { get; set; }

    /// <summary>Expected SHA-256 of the ONNX file (hex). When set, any other content is refused.</summary>
    public string? Sha256 { get; set; }

    /// <summary>
    /// Load a blob model without <see cref="Sha256"/>. Off by default: an unpinned blob model is
    /// refused; when allowed, /api/health reports it as unpinned.
    /// </summary>
    public bool AllowUnpinned { get; set; }

    /// <summary>Where downloaded models are kept (default: a folder under the temp directory).</summary>
    public string? CacheDirectory { get; set; }

    /// <summary>
    /// Label table (local path or blob path) for models without labels in their metadata
    /// (e.g. LOC_synset_mapping.txt).
    /// </summary>
    public string? Labels { get; set; }

    /// <summary>
    /// Preprocessing for models without it in their metadata: <c>timm</c>, <c>mindcv</c>,
    /// <c>torchvision</c> or <c>caffe</c>.
    /// </summary>
    public string? Preprocessing { get; set; }
}

/// <summary>The model file does not match the pinned SHA-256 (or cannot be fetched/read).</summary>
public sealed class ModelIntegrityException(string message, Exception? inner = null) : Exception(message, inner);
