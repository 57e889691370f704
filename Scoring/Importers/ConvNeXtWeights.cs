using ConvNeXt.Batch.Scoring.Models;

namespace ConvNeXt.Batch.Scoring.Importers;

/// <summary>A float32 tensor in PyTorch layout (row-major, shape as the canonical name implies).</summary>
public sealed record WeightTensor(int[] Shape, float[] Data)
{
    public long ElementCount => Shape.Aggregate(1L, (a, d) => a * d);

    /// <summary>
    /// Checks that <paramref name="tensors"/> holds exactly the tensors of <paramref name="layout"/>, each with
    /// its shape and enough values; the first difference is a <see cref="WeightImportException"/> naming the tensor.
    /// </summary>
    public static void CheckSet(IReadOnlyDictionary<string, WeightTensor> tensors, IEnumerable<(string Name, int[] Shape)> layout, object model)
    {
        var expected = new HashSet<string>(StringComparer.Ordinal);
        foreach (var (name, shape) in layout)
        {
            expected.Add(name);
            if (!tensors.TryGetValue(name, out var t))
                throw new WeightImportException($"missing tensor '{name}'", name);
            if (!t.Shape.SequenceEqual(shape))
                throw new WeightImportException(
                    $"tensor '{name}' has shape [{string.Join(',', t.Shape)}], expected [{string.Join(',', shape)}]", name);
            if (t.Data.Length < t.ElementCount)
                throw new WeightImportException($"tensor '{name}' holds {t.Data.Length} values, needs {t.ElementCount}", name);
        }
        if (tensors.Keys.FirstOrDefault(k => !expected.Contains(k)) is { } extra)
            throw new WeightImportException($"unexpected tensor '{extra}' for {model}", extra);
    }
}

/// <summary>
/// A complete set of ConvNeXt parameters under canonical names (timm's, with the MLP weights as
/// 2-D [out, in] matrices and the layer scale as [C]), whatever checkpoint they came from.
/// </summary>
public sealed class ConvNeXtWeights : IClassifierWeights
{
    public ConvNeXtWeights(
        ConvNeXtSpec spec,
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

    public ConvNeXtSpec Spec { get; }

    public string Architecture => Spec.Architecture;
    public int Classes { get; }
    public IReadOnlyDictionary<string, WeightTensor> Tensors { get; }

    /// <summary>The checkpoint's format; <c>null</c> for weights not read from a file (random).</summary>
    public WeightFormat? SourceFormat { get; }

    /// <summary>Lower-case hex SHA-256 of the weights file; <c>null</c> when there was no file.</summary>
    public string? Sha256 { get; }

    public bool Trained { get; }

    /// <summary>timm, torchvision, hf, mindspore or random: the metadata's weights format.</summary>
    public string WeightsFormatName => SourceFormat?.MetadataName() ?? "random";

    public WeightTensor this[string name] => Tensors[name];

    public long ParameterCount => Tensors.Values.Sum(t => t.ElementCount);

    /// <summary>Every canonical tensor of a model, in graph order, with its shape.</summary>
    public static IEnumerable<(string Name, int[] Shape)> Layout(ConvNeXtSpec spec, int classes)
    {
        var d = spec.Dims;
        yield return ("stem.0.weight", [d[0], 3, 4, 4]);
        yield return ("stem.0.bias", [d[0]]);
        yield return ("stem.1.weight", [d[0]]);
        yield return ("stem.1.bias", [d[0]]);
        for (var s = 0; s < spec.StageCount; s++)
        {
            var c = d[s];
            if (s > 0)
            {
                yield return ($"stages.{s}.downsample.0.weight", [d[s - 1]]);
                yield return ($"stages.{s}.downsample.0.bias", [d[s - 1]]);
                yield return ($"stages.{s}.downsample.1.weight", [c, d[s - 1], 2, 2]);
                yield return ($"stages.{s}.downsample.1.bias", [c]);
            }
            for (var j = 0; j < spec.Depths[s]; j++)
            {
                var p = $"stages.{s}.blocks.{j}.";
                yield return (p + "gamma", [c]);
                yield return (p + "conv_dw.weight", [c, 1, 7, 7]);
                yield return (p + "conv_dw.bias", [c]);
                yield return (p + "norm.weight", [c]);
                yield return (p + "norm.bias", [c]);
                yield return (p + "mlp.fc1.weight", [ConvNeXtSpec.MlpRatio * c, c]);
                yield return (p + "mlp.fc1.bias", [ConvNeXtSpec.MlpRatio * c]);
                yield return (p + "mlp.fc2.weight", [c, ConvNeXtSpec.MlpRatio * c]);
                yield return (p + "mlp.fc2.bias", [c]);
            }
        }
        yield return ("head.norm.weight", [d[^1]]);
        yield return ("head.norm.bias", [d[^1]]);
        yield return ("head.fc.weight", [classes, d[^1]]);
        yield return ("head.fc.bias", [classes]);
    }
}
