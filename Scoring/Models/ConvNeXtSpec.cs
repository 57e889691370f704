using System.Globalization;

namespace ConvNeXt.Batch.Scoring.Models;

/// <summary>
/// One ConvNeXt variant: blocks per stage and channels per stage. Everything else about the
/// architecture (kernel sizes, MLP ratio 4, LayerNorm eps 1e-6) is fixed by the paper.
/// </summary>
public sealed record ConvNeXtSpec(string Name, int[] Depths, int[] Dims)
{
    /// <summary>The variants of the ConvNeXt papers (v1 and the timm atto…nano family), one line each.</summary>
    public static IReadOnlyList<ConvNeXtSpec> All { get; } =
    [
        new("atto", [2, 2, 6, 2], [40, 80, 160, 320]),
        new("femto", [2, 2, 6, 2], [48, 96, 192, 384]),
        new("pico", [2, 2, 6, 2], [64, 128, 256, 512]),
        new("nano", [2, 2, 8, 2], [80, 160, 320, 640]),
        new("tiny", [3, 3, 9, 3], [96, 192, 384, 768]) { PaperTop1 = 82.1 },
        new("small", [3, 3, 27, 3], [96, 192, 384, 768]) { PaperTop1 = 83.1 },
        new("base", [3, 3, 27, 3], [128, 256, 512, 1024]) { PaperTop1 = 83.8 },
        new("large", [3, 3, 27, 3], [192, 384, 768, 1536]),
        new("xlarge", [3, 3, 27, 3], [256, 512, 1024, 2048]),
    ];

    public const int MlpRatio = 4;
    public const float LayerNormEpsilon = 1e-6f;

    /// <summary>ImageNet-1k top-1 of the paper's ImageNet-1k-trained model at 224 (top-5 is not published).</summary>
    public double? PaperTop1 { get; init; }

    public string Architecture => "convnext_" + Name;

    public int StageCount => Depths.Length;

    /// <summary>Finds a variant by "tiny" or "convnext_tiny" (case-insensitive).</summary>
    public static ConvNeXtSpec Find(string name) =>
        TryFind(name, out var spec) ? spec
            : throw new ArgumentException(
                $"unknown ConvNeXt variant '{name}'; known: {string.Join(", ", All.Select(s => s.Name))}", nameof(name));

    public static bool TryFind(string name, out ConvNeXtSpec spec)
    {
        var key = name.Trim();
        if (key.StartsWith("convnext_", StringComparison.OrdinalIgnoreCase))
            key = key["convnext_".Length..];
        spec = All.FirstOrDefault(s => string.Equals(s.Name, key, StringComparison.OrdinalIgnoreCase))!;
        return spec is not null;
    }

    /// <summary>The named variant with these depths and dims, or a spec named after its shape.</summary>
    public static ConvNeXtSpec FromShape(int[] depths, int[] dims)
    {
        if (depths.Length != dims.Length || depths.Length == 0)
            throw new ArgumentException("depths and dims must have the same, non-zero length");
        var known = All.FirstOrDefault(s => s.Depths.SequenceEqual(depths) && s.Dims.SequenceEqual(dims));
        return known ?? new ConvNeXtSpec(
            $"custom_d{string.Join('-', depths)}_c{string.Join('-', dims)}", depths, dims);
    }

    /// <summary>Parameters of the model with a <paramref name="classes"/>-way head, from the architecture.</summary>
    public long ParameterCount(int classes)
    {
        long d0 = Dims[0];
        long total = 3 * d0 * 16 + d0 + 2 * d0; // stem conv + LayerNorm
        for (var s = 0; s < StageCount; s++)
        {
            long c = Dims[s];
            if (s > 0)
            {
                long p = Dims[s - 1];
                total += 2 * p + p * c * 4 + c; // LayerNorm + 2x2 conv
            }
            // dwconv 7x7 + bias, LayerNorm, fc1, fc2, layer scale
            total += Depths[s] * (49 * c + c + 2 * c + (c * 4 * c + 4 * c) + (4 * c * c + c) + c);
        }
        long last = Dims[^1];
        return total + 2 * last + last * classes + classes;
    }

    public bool Equals(ConvNeXtSpec? other) =>
        other is not null && Name == other.Name && Depths.SequenceEqual(other.Depths) && Dims.SequenceEqual(other.Dims);

    public override int GetHashCode() => HashCode.Combine(Name, Depths.Length, Dims[^1]);

    public override string ToString() => string.Create(CultureInfo.InvariantCulture,
        $"{Architecture} (depths {string.Join(',', Depths)}; dims {string.Join(',', Dims)})");
}
