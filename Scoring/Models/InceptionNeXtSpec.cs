using System.Globalization;
using ConvNeXt.Batch.Scoring.Preprocessing;

namespace ConvNeXt.Batch.Scoring.Models;

/// <summary>
/// One InceptionNeXt variant (Yu et al. 2024; timm <c>inception_next_*</c>): ConvNeXt's macro design
/// with an Inception token mixer (identity + depthwise 3×3, 1×11 and 11×1 over groups of C/8
/// channels), BatchNorm, a 1×1-conv MLP and an MLP head. One row per published evaluation setting:
/// <c>base_384</c> is <c>inception_next_base</c> evaluated at 384 pixels.
/// </summary>
public sealed record InceptionNeXtSpec(string Name, string Architecture, int[] Depths, int[] Dims, int[] MlpRatios)
{
    /// <summary>
    /// The variants with published ImageNet-1k weights (timm tag <c>sail_in1k</c>). Preprocessing and
    /// top-1 are timm's configs and the paper's table.
    /// </summary>
    public static IReadOnlyList<InceptionNeXtSpec> All { get; } =
    [
        new("tiny", "inception_next_tiny", [3, 3, 9, 3], [96, 192, 384, 768], [4, 4, 4, 3]) { PaperTop1 = 82.3 },
        new("small", "inception_next_small", [3, 3, 27, 3], [96, 192, 384, 768], [4, 4, 4, 3]) { PaperTop1 = 83.5 },
        new("base", "inception_next_base", [3, 3, 27, 3], [128, 256, 512, 1024], [4, 4, 4, 3]) { PaperTop1 = 84.0, CropPct = 0.95 },
        new("base_384", "inception_next_base", [3, 3, 27, 3], [128, 256, 512, 1024], [4, 4, 4, 3])
            { PaperTop1 = 85.2, ImageSize = 384, CropPct = 1.0, TimmTag = "sail_in1k_384" },
    ];

    public const int SquareKernel = 3;
    public const int BandKernel = 11;
    /// <summary>Hidden width of the head's MLP, as a multiple of the last stage's channels.</summary>
    public const int HeadRatio = 3;
    public const float BatchNormEpsilon = 1e-5f;
    public const float HeadLayerNormEpsilon = 1e-6f;

    /// <summary>Evaluation image size of the published weights.</summary>
    public int ImageSize { get; init; } = 224;

    /// <summary>timm's crop_pct: the shorter side is resized to floor(size / crop_pct) before the center crop.</summary>
    public double CropPct { get; init; } = 0.875;

    /// <summary>ImageNet-1k top-1 of the paper (top-5 is not published).</summary>
    public double? PaperTop1 { get; init; }

    /// <summary>The weights' tag on the Hugging Face hub (<c>timm/inception_next_tiny.sail_in1k</c>).</summary>
    public string TimmTag { get; init; } = "sail_in1k";

    /// <summary>The name users type: <c>inception_next_tiny</c>, <c>inception_next_base_384</c>.</summary>
    public string Id => "inception_next_" + Name;

    public int StageCount => Depths.Length;

    /// <summary>Channels of each of the three convolved branches of the mixer: int(C · 1/8).</summary>
    public static int BranchChannels(int channels) => channels / 8;

    /// <summary>timm's evaluation preprocessing for these weights: bicubic, crop_pct, ImageNet mean/std.</summary>
    public PreprocessingSettings Preprocessing => PreprocessingSettings.FromCropPct(ImageSize, CropPct, Interpolation.Bicubic);

    /// <summary>The paper's top-1 as the reference a validation run compares with.</summary>
    public ReferenceAccuracy? PublishedAccuracy => PaperTop1 is { } top1
        ? new ReferenceAccuracy(top1, null, $"InceptionNeXt paper (Yu et al. 2024), timm {Architecture}.{TimmTag} at {ImageSize}px")
        : null;

    /// <summary>Finds a variant by <c>tiny</c>, <c>inception_next_tiny</c> or <c>inception_next_base_384</c> (case-insensitive).</summary>
    public static bool TryFind(string name, out InceptionNeXtSpec spec)
    {
        var key = name.Trim();
        foreach (var prefix in new[] { "inception_next_", "inceptionnext_" })
            if (key.StartsWith(prefix, StringComparison.OrdinalIgnoreCase))
                key = key[prefix.Length..];
        var dot = key.IndexOf('.');
        if (dot >= 0)
        {
            // inception_next_base.sail_in1k_384 names the 384-pixel row.
            var tag = key[(dot + 1)..];
            key = key[..dot];
            if (tag.EndsWith("_384", StringComparison.Ordinal) && !key.EndsWith("_384", StringComparison.Ordinal))
                key += "_384";
        }
        spec = All.FirstOrDefault(s => string.Equals(s.Name, key, StringComparison.OrdinalIgnoreCase))!;
        return spec is not null;
    }

    public static InceptionNeXtSpec Find(string name) =>
        TryFind(name, out var spec) ? spec
            : throw new ArgumentException(
                $"unknown InceptionNeXt variant '{name}'; known: {string.Join(", ", All.Select(s => s.Id))}", nameof(name));

    /// <summary>Whether a name is meant as an InceptionNeXt architecture (so an unknown one is reported as such).</summary>
    public static bool IsFamilyName(string name) =>
        name.Trim().StartsWith("inception_next", StringComparison.OrdinalIgnoreCase)
        || name.Trim().StartsWith("inceptionnext", StringComparison.OrdinalIgnoreCase);

    /// <summary>The 224-pixel variant with these shapes, or a spec named after them.</summary>
    public static InceptionNeXtSpec FromShape(int[] depths, int[] dims, int[] mlpRatios)
    {
        if (depths.Length != dims.Length || depths.Length != mlpRatios.Length || depths.Length == 0)
            throw new ArgumentException("depths, dims and MLP ratios must have the same, non-zero length");
        var known = All.FirstOrDefault(s => s.ImageSize == 224 && s.Depths.SequenceEqual(depths) && s.Dims.SequenceEqual(dims) && s.MlpRatios.SequenceEqual(mlpRatios));
        if (known is not null)
            return known;
        var name = $"custom_d{string.Join('-', depths)}_c{string.Join('-', dims)}_r{string.Join('-', mlpRatios)}";
        return new InceptionNeXtSpec(name, "inception_next_" + name, depths, dims, mlpRatios);
    }

    /// <summary>Learned parameters (not BatchNorm running statistics) with a <paramref name="classes"/>-way head.</summary>
    public long ParameterCount(int classes)
    {
        long d0 = Dims[0];
        long total = 3 * d0 * 16 + d0 + 2 * d0; // stem conv + BatchNorm
        for (var s = 0; s < StageCount; s++)
        {
            long c = Dims[s];
            if (s > 0)
            {
                long p = Dims[s - 1];
                total += 2 * p + p * c * 4 + c; // BatchNorm + 2x2 conv
            }
            long g = BranchChannels(Dims[s]);
            long hidden = MlpRatios[s] * c;
            var mixer = g * (SquareKernel * SquareKernel + 1) + 2 * g * (BandKernel + 1);
            // mixer, BatchNorm, fc1, fc2, layer scale
            total += Depths[s] * (mixer + 2 * c + (c * hidden + hidden) + (hidden * c + c) + c);
        }
        long last = Dims[^1], h = HeadRatio * last;
        return total + (last * h + h) + 2 * h + (h * classes + classes);
    }

    public bool Equals(InceptionNeXtSpec? other) =>
        other is not null && Name == other.Name && Depths.SequenceEqual(other.Depths) && Dims.SequenceEqual(other.Dims)
        && MlpRatios.SequenceEqual(other.MlpRatios) && ImageSize == other.ImageSize;

    public override int GetHashCode() => HashCode.Combine(Name, Depths.Length, Dims[^1], ImageSize);

    public override string ToString() => string.Create(CultureInfo.InvariantCulture,
        $"{Id} (depths {string.Join(',', Depths)}; dims {string.Join(',', Dims)}; MLP ratios {string.Join(',', MlpRatios)})");
}
