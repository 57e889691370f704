namespace ConvNeXt.Batch.Scoring.Models;

/// <summary>
/// Published ImageNet-1k validation accuracy of released ConvNeXt weights, by the weights' origin.
/// Only figures published with both top-1 and top-5 are returned (the paper gives top-1 only; see
/// <see cref="ConvNeXtSpec.PaperTop1"/>).
/// </summary>
public static class PublishedAccuracy
{
    private static readonly Dictionary<(string Format, string Variant), ReferenceAccuracy> Known = new()
    {
        [("mindspore", "tiny")] = new(81.91, 95.79, "MindCV convnext_tiny"),
        [("mindspore", "small")] = new(83.40, 96.36, "MindCV convnext_small"),
        [("mindspore", "base")] = new(83.32, 96.24, "MindCV convnext_base"),
        [("torchvision", "tiny")] = new(82.52, 96.146, "torchvision ConvNeXt_Tiny_Weights.IMAGENET1K_V1"),
    };

    /// <param name="weightsFormat">timm, torchvision, hf, mindspore (the metadata's weights format).</param>
    public static ReferenceAccuracy? For(ConvNeXtSpec spec, string weightsFormat) =>
        Known.GetValueOrDefault((weightsFormat, spec.Name));
}
