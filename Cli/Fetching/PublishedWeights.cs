using ConvNeXt.Batch.Scoring.Models;

namespace ConvNeXt.Batch.Cli.Fetching;

/// <summary>Where a published checkpoint lives.</summary>
public enum WeightsSource { Timm, MindCv }

/// <summary>
/// One downloadable checkpoint of model <see cref="Model"/> (<c>convnext_tiny</c>,
/// <c>inception_next_base_384</c>). <see cref="Sha256"/> is the full digest, or for MindCV the
/// 8-hex-digit prefix MindCV puts in its file names, or <c>null</c> where no digest is published
/// that could be checked from here (see docs/models.md): the download's digest is then printed
/// with the <c>--sha256</c> that pins it, and stored in the model metadata.
/// </summary>
public sealed record PublishedWeights(string Model, WeightsSource Source, string Path, string DefaultOrigin, string? Sha256, string FileName)
{
    /// <summary>The ConvNeXt variant (<c>tiny</c>) or, for other families, the model name.</summary>
    public string Variant => Model.StartsWith("convnext_", StringComparison.Ordinal) ? Model["convnext_".Length..] : Model;

    /// <summary>Whether <see cref="Sha256"/> is a whole digest rather than a prefix or nothing.</summary>
    public bool FullyPinned => Sha256 is { Length: 64 };

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
        .. TimmTags.Select(t => Timm($"convnext_{t.Variant}", $"convnext_{t.Variant}.{t.Tag}")),
        // The authors' weights as timm republished them (one hub repository per tag; base_384 is its own).
        .. InceptionNeXtSpec.All.Select(s => Timm(s.Id, $"{s.Architecture}.{s.TimmTag}")),
        .. MindCvFiles.Select(m => new PublishedWeights($"convnext_{m.Variant}", WeightsSource.MindCv,
            $"toolkits/mindcv/convnext/{m.File}", MindSpore, m.Prefix, m.File)),
    ];

    private static PublishedWeights Timm(string model, string hubName) =>
        new(model, WeightsSource.Timm, $"timm/{hubName}/resolve/main/model.safetensors", HuggingFace, null, $"{hubName}.safetensors");

    /// <summary>
    /// Accepts <c>tiny</c>, <c>convnext_tiny</c>, <c>convnext_tiny.fb_in1k</c>, <c>inception_next_tiny</c>,
    /// <c>inception_next_base.sail_in1k_384</c>.
    /// </summary>
    public static PublishedWeights? Find(string name, WeightsSource source)
    {
        var key = name.Trim().ToLowerInvariant();
        string model;
        if (InceptionNeXtSpec.IsFamilyName(key))
            model = InceptionNeXtSpec.TryFind(key, out var spec) ? spec.Id : key;
        else
        {
            var dot = key.IndexOf('.');
            if (dot >= 0)
                key = key[..dot];
            model = key.StartsWith("convnext_", StringComparison.Ordinal) ? key : "convnext_" + key;
        }
        return All.FirstOrDefault(w => w.Model == model && w.Source == source);
    }
}
