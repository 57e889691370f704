namespace ConvNeXt.Batch.Cli.Fetching;

/// <summary>Where a published ConvNeXt checkpoint lives.</summary>
public enum WeightsSource { Timm, MindCv }

/// <summary>
/// One downloadable checkpoint. <see cref="Sha256"/> is the full digest or, for MindCV, the
/// 8-hex-digit prefix that MindCV puts in its file names; <c>null</c> when nothing is published
/// (the digest is then computed, printed and stored in the model metadata).
/// </summary>
public sealed record PublishedWeights(string Variant, WeightsSource Source, string Path, string DefaultOrigin, string? Sha256, string FileName)
{
    public Uri Address(string? originOverride) =>
        new(new Uri(AppendSlash(originOverride ?? DefaultOrigin)), Path.TrimStart('/'));

    private static string AppendSlash(string origin) => origin.EndsWith('/') ? origin : origin + "/";
}

/// <summary>The catalog <c>model fetch</c> downloads from.</summary>
public static class PublishedWeightsCatalog
{
    public const string HuggingFace = "https://huggingface.co/";
    public const string MindSpore = "https://download.mindspore.cn/";

    // timm's ImageNet-1k-only tags (xlarge has no 1k-only checkpoint: its 22k→1k fine-tune is used).
    private static readonly (string Variant, string Tag)[] TimmTags =
    [
        ("atto", "d2_in1k"), ("femto", "d1_in1k"), ("pico", "d1_in1k"), ("nano", "d1h_in1k"),
        ("tiny", "fb_in1k"), ("small", "fb_in1k"), ("base", "fb_in1k"), ("large", "fb_in1k"),
        ("xlarge", "fb_in22k_ft_in1k"),
    ];

    // MindCV's model table: the hash in the file name is the start of the file's sha256.
    private static readonly (string Variant, string File, string Prefix)[] MindCvFiles =
    [
        ("tiny", "convnext_tiny-ae5ff8d7.ckpt", "ae5ff8d7"),
        ("small", "convnext_small-e23008f3.ckpt", "e23008f3"),
        ("base", "convnext_base-ee3544b8.ckpt", "ee3544b8"),
    ];

    public static IReadOnlyList<PublishedWeights> All { get; } =
    [
        .. TimmTags.Select(t => new PublishedWeights(t.Variant, WeightsSource.Timm,
            $"timm/convnext_{t.Variant}.{t.Tag}/resolve/main/model.safetensors", HuggingFace, null,
            $"convnext_{t.Variant}.{t.Tag}.safetensors")),
        .. MindCvFiles.Select(m => new PublishedWeights(m.Variant, WeightsSource.MindCv,
            $"toolkits/mindcv/convnext/{m.File}", MindSpore, m.Prefix, m.File)),
    ];

    /// <summary>Accepts <c>tiny</c>, <c>convnext_tiny</c> or <c>convnext_tiny.fb_in1k</c>.</summary>
    public static PublishedWeights? Find(string name, WeightsSource source)
    {
        var variant = name.Trim().ToLowerInvariant();
        if (variant.StartsWith("convnext_", StringComparison.Ordinal))
            variant = variant["convnext_".Length..];
        var dot = variant.IndexOf('.');
        if (dot >= 0)
            variant = variant[..dot];
        return All.FirstOrDefault(w => w.Variant == variant && w.Source == source);
    }
}
