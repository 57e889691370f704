using ConvNeXt.Batch.Scoring.Models;

namespace ConvNeXt.Batch.Scoring.Importers;

/// <summary>
/// Reads timm InceptionNeXt safetensors (<c>inception_next_*</c> state dicts). Strict like the
/// ConvNeXt importer: every tensor the architecture needs, with its shape, and nothing else
/// (BatchNorm's <c>num_batches_tracked</c> counters carry no weight and are skipped).
/// </summary>
public static class InceptionNeXtImporter
{
    private const string MixerMarker = ".token_mixer.dwconv_hw.";

    /// <summary>Whether a safetensors file holds InceptionNeXt tensors (timm's token-mixer names).</summary>
    public static bool IsInceptionNeXt(string path) =>
        !path.EndsWith(".ckpt", StringComparison.OrdinalIgnoreCase)
        && SafetensorsFile.Read(path).Any(t => t.Name.Contains(MixerMarker, StringComparison.Ordinal));

    /// <param name="path">A timm safetensors file.</param>
    /// <param name="spec">The expected variant; <c>null</c> infers depths, dims and MLP ratios from the tensors.</param>
    public static InceptionNeXtWeights Load(string path, InceptionNeXtSpec? spec = null, WeightFormat format = WeightFormat.Auto)
    {
        if (!File.Exists(path))
            throw new FileNotFoundException($"weights file not found: {path}", path);
        if (format is not (WeightFormat.Auto or WeightFormat.Timm))
            throw new WeightImportException($"{path}: InceptionNeXt weights are read from timm safetensors only, not {format.MetadataName()}");
        if (path.EndsWith(".ckpt", StringComparison.OrdinalIgnoreCase))
            throw new WeightImportException($"{path}: InceptionNeXt weights must be a timm .safetensors file");
        return Import(SafetensorsFile.Read(path), spec, FileSha256.Compute(path));
    }

    internal static InceptionNeXtWeights Import(IReadOnlyList<RawTensor> raw, InceptionNeXtSpec? spec, string? sha256)
    {
        var byName = new Dictionary<string, RawTensor>(StringComparer.Ordinal);
        foreach (var tensor in raw)
        {
            if (tensor.Name.EndsWith(".num_batches_tracked", StringComparison.Ordinal))
                continue;
            if (!byName.TryAdd(tensor.Name, tensor))
                throw new WeightImportException($"tensor '{tensor.Name}' appears twice", tensor.Name);
        }

        var (inferred, classes) = Infer(byName);
        if (spec is not null)
        {
            if (!(spec.Depths.SequenceEqual(inferred.Depths) && spec.Dims.SequenceEqual(inferred.Dims) && spec.MlpRatios.SequenceEqual(inferred.MlpRatios)))
                throw new WeightImportException($"weights are {inferred} but {spec} was requested");
        }
        spec ??= inferred;

        var tensors = new Dictionary<string, WeightTensor>(StringComparer.Ordinal);
        foreach (var (name, shape) in InceptionNeXtWeights.Layout(spec, classes))
        {
            if (!byName.Remove(name, out var tensor))
                throw new WeightImportException($"missing tensor '{name}' (timm weights for {spec.Id})", name);
            if (!tensor.Shape.SequenceEqual(shape))
                throw new WeightImportException(
                    $"tensor '{name}' has shape [{string.Join(',', tensor.Shape)}], expected [{string.Join(',', shape)}] for {spec.Id}", name);
            var data = tensor.Read();
            var count = shape.Aggregate(1L, (a, d) => a * d);
            if (data.Length != count)
                throw new WeightImportException($"tensor '{name}' holds {data.Length} values, its shape needs {count}", name);
            tensors[name] = new WeightTensor(shape, data);
        }
        if (byName.Count > 0)
        {
            var extra = byName.Values.First();
            throw new WeightImportException($"unknown tensor '{extra.Name}': not part of {spec}", extra.Name);
        }
        return new InceptionNeXtWeights(spec, classes, tensors, WeightFormat.Timm, sha256);
    }

    private static (InceptionNeXtSpec Spec, int Classes) Infer(Dictionary<string, RawTensor> tensors)
    {
        var depths = new List<int>();
        var dims = new List<int>();
        var ratios = new List<int>();
        for (var s = 0; ; s++)
        {
            var blocks = 0;
            while (tensors.ContainsKey($"stages.{s}.blocks.{blocks}.mlp.fc1.weight"))
                blocks++;
            var hasDownsample = tensors.Keys.Any(k => k.StartsWith($"stages.{s}.downsample.", StringComparison.Ordinal));
            if (blocks == 0 && !hasDownsample)
                break;
            if (blocks == 0)
                throw new WeightImportException($"stage {s} has no blocks (expected tensors like 'stages.{s}.blocks.0.mlp.fc1.weight')");
            var width = s == 0 ? FirstDim("stem.0.weight") : FirstDim($"stages.{s}.downsample.1.weight");
            var hidden = FirstDim($"stages.{s}.blocks.0.mlp.fc1.weight");
            if (hidden % width != 0)
                throw new WeightImportException($"tensor 'stages.{s}.blocks.0.mlp.fc1.weight' has {hidden} outputs, not a multiple of {width} channels");
            depths.Add(blocks);
            dims.Add(width);
            ratios.Add(hidden / width);
        }
        if (depths.Count == 0)
            throw new WeightImportException("no InceptionNeXt stages found (expected tensors like 'stages.0.blocks.0.token_mixer.dwconv_hw.weight')");
        return (InceptionNeXtSpec.FromShape([.. depths], [.. dims], [.. ratios]), FirstDim("head.fc2.weight"));

        int FirstDim(string name)
        {
            if (!tensors.TryGetValue(name, out var t))
                throw new WeightImportException($"missing tensor '{name}'", name);
            if (t.Shape.Length == 0 || t.Shape[0] <= 0)
                throw new WeightImportException($"tensor '{name}' has shape [{string.Join(',', t.Shape)}]", name);
            return t.Shape[0];
        }
    }
}
