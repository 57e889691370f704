using ConvNeXt.Batch.Scoring.Models;

namespace ConvNeXt.Batch.Scoring.Importers;

/// <summary>
/// A complete set of InceptionNeXt tensors under timm's names, BatchNorm running statistics
/// included (they are needed for inference, though they are not learned parameters). The MLP's
/// 1×1 convolutions keep timm's [out, in, 1, 1] shape.
/// </summary>
public sealed class InceptionNeXtWeights : IClassifierWeights
{
    public InceptionNeXtWeights(
        InceptionNeXtSpec spec,
        int classes,
        IReadOnlyDictionary<string, WeightTensor> tensors,
        WeightFormat? sourceFormat,
        string? sha256,
        bool trained = true)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(classes, 1);
        WeightTensor.CheckSet(tensors, Layout(spec, classes), spec);
        Spec = spec;
        Classes = classes;
        Tensors = tensors;
        SourceFormat = sourceFormat;
        Sha256 = sha256;
        Trained = trained;
    }

    public InceptionNeXtSpec Spec { get; }
    public int Classes { get; }
    public IReadOnlyDictionary<string, WeightTensor> Tensors { get; }
    public WeightFormat? SourceFormat { get; }
    public string? Sha256 { get; }
    public bool Trained { get; }

    public string Architecture => Spec.Architecture;

    /// <summary>timm or random.</summary>
    public string WeightsFormatName => SourceFormat?.MetadataName() ?? "random";

    public WeightTensor this[string name] => Tensors[name];

    /// <summary>Learned parameters, as timm counts them: every tensor but the BatchNorm running statistics.</summary>
    public long ParameterCount => Tensors.Where(t => !IsRunningStatistic(t.Key)).Sum(t => t.Value.ElementCount);

    /// <summary>The same weights for another row of the variant table (base at 384 pixels shares base's tensors).</summary>
    public InceptionNeXtWeights WithSpec(InceptionNeXtSpec spec) =>
        new(spec, Classes, Tensors, SourceFormat, Sha256, Trained);

    public static bool IsRunningStatistic(string name) =>
        name.EndsWith(".running_mean", StringComparison.Ordinal) || name.EndsWith(".running_var", StringComparison.Ordinal);

    /// <summary>Every tensor of a model, in graph order, with its shape (timm names).</summary>
    public static IEnumerable<(string Name, int[] Shape)> Layout(InceptionNeXtSpec spec, int classes)
    {
        static IEnumerable<(string, int[])> BatchNorm(string prefix, int c) =>
        [
            (prefix + ".weight", [c]), (prefix + ".bias", [c]), (prefix + ".running_mean", [c]), (prefix + ".running_var", [c]),
        ];

        var d = spec.Dims;
        yield return ("stem.0.weight", [d[0], 3, 4, 4]);
        yield return ("stem.0.bias", [d[0]]);
        foreach (var t in BatchNorm("stem.1", d[0]))
            yield return t;
        for (var s = 0; s < spec.StageCount; s++)
        {
            var c = d[s];
            if (s > 0)
            {
                foreach (var t in BatchNorm($"stages.{s}.downsample.0", d[s - 1]))
                    yield return t;
                yield return ($"stages.{s}.downsample.1.weight", [c, d[s - 1], 2, 2]);
                yield return ($"stages.{s}.downsample.1.bias", [c]);
            }
            var g = InceptionNeXtSpec.BranchChannels(c);
            var hidden = spec.MlpRatios[s] * c;
            for (var j = 0; j < spec.Depths[s]; j++)
            {
                var p = $"stages.{s}.blocks.{j}.";
                yield return (p + "token_mixer.dwconv_hw.weight", [g, 1, InceptionNeXtSpec.SquareKernel, InceptionNeXtSpec.SquareKernel]);
                yield return (p + "token_mixer.dwconv_hw.bias", [g]);
                yield return (p + "token_mixer.dwconv_w.weight", [g, 1, 1, InceptionNeXtSpec.BandKernel]);
                yield return (p + "token_mixer.dwconv_w.bias", [g]);
                yield return (p + "token_mixer.dwconv_h.weight", [g, 1, InceptionNeXtSpec.BandKernel, 1]);
                yield return (p + "token_mixer.dwconv_h.bias", [g]);
                foreach (var t in BatchNorm(p + "norm", c))
                    yield return t;
                yield return (p + "mlp.fc1.weight", [hidden, c, 1, 1]);
                yield return (p + "mlp.fc1.bias", [hidden]);
                yield return (p + "mlp.fc2.weight", [c, hidden, 1, 1]);
                yield return (p + "mlp.fc2.bias", [c]);
                yield return (p + "gamma", [c]);
            }
        }
        var last = d[^1];
        var headHidden = InceptionNeXtSpec.HeadRatio * last;
        yield return ("head.fc1.weight", [headHidden, last]);
        yield return ("head.fc1.bias", [headHidden]);
        yield return ("head.norm.weight", [headHidden]);
        yield return ("head.norm.bias", [headHidden]);
        yield return ("head.fc2.weight", [classes, headHidden]);
        yield return ("head.fc2.bias", [classes]);
    }
}
