using ConvNeXt.Batch.Scoring.Models;

namespace ConvNeXt.Batch.Scoring.Importers;

/// <summary>
/// Reads a ConvNeXt checkpoint (timm, torchvision or Hugging Face safetensors; MindSpore .ckpt) into
/// canonical weights. Strict: every tensor the architecture needs must be there with its shape, and
/// every tensor present must be a model parameter (optimizer state of training checkpoints excepted).
/// </summary>
public static class WeightImporter
{
    /// <param name="path">The checkpoint file.</param>
    /// <param name="format">Its naming scheme; <see cref="WeightFormat.Auto"/> decides from the file.</param>
    /// <param name="spec">The expected variant; <c>null</c> infers depths and dims from the tensors.</param>
    public static ConvNeXtWeights Load(string path, WeightFormat format = WeightFormat.Auto, ConvNeXtSpec? spec = null)
    {
        if (!File.Exists(path))
            throw new FileNotFoundException($"weights file not found: {path}", path);
        var isCheckpoint = path.EndsWith(".ckpt", StringComparison.OrdinalIgnoreCase);
        if (format == WeightFormat.MindSpore && !isCheckpoint && LooksLikeSafetensors(path))
            throw new WeightImportException($"{path}: MindSpore weights must be a .ckpt file");
        var raw = format == WeightFormat.MindSpore || (format == WeightFormat.Auto && isCheckpoint)
            ? MindSporeCheckpoint.Read(path)
            : SafetensorsFile.Read(path);
        if (raw.Any(t => t.Name.Contains(".token_mixer.", StringComparison.Ordinal)))
            throw new WeightImportException($"{path}: these are InceptionNeXt weights, not ConvNeXt (read them with {nameof(InceptionNeXtImporter)}, or build with --arch inception_next_*)");
        if (format == WeightFormat.Auto)
            format = isCheckpoint ? WeightFormat.MindSpore : Detect(raw, path);
        return Import(raw, format, spec, FileSha256.Compute(path));
    }

    internal static ConvNeXtWeights Import(IReadOnlyList<RawTensor> raw, WeightFormat format, ConvNeXtSpec? spec, string? sha256)
    {
        var scheme = NamingScheme.For(format);
        var byCanonical = new Dictionary<string, RawTensor>(StringComparer.Ordinal);
        foreach (var tensor in raw)
        {
            var canonical = scheme.ToCanonical(tensor.Name)
                ?? throw new WeightImportException(
                    $"unknown tensor '{tensor.Name}' in {format.MetadataName()} weights: not a ConvNeXt parameter", tensor.Name);
            if (!byCanonical.TryAdd(canonical, tensor))
                throw new WeightImportException($"tensor '{tensor.Name}' appears twice", tensor.Name);
        }

        var (inferred, classes) = Infer(byCanonical, scheme);
        if (spec is not null && !(spec.Depths.SequenceEqual(inferred.Depths) && spec.Dims.SequenceEqual(inferred.Dims)))
            throw new WeightImportException(
                $"weights are {inferred} but {spec} was requested");
        spec ??= inferred;

        var tensors = new Dictionary<string, WeightTensor>(StringComparer.Ordinal);
        foreach (var (name, shape) in ConvNeXtWeights.Layout(spec, classes))
        {
            var sourceName = scheme.ToSource(name);
            if (!byCanonical.Remove(name, out var tensor))
                throw new WeightImportException($"missing tensor '{sourceName}' ({format.MetadataName()} weights for {spec.Architecture})", sourceName);
            if (!ShapeMatches(name, tensor.Shape, shape))
                throw new WeightImportException(
                    $"tensor '{tensor.Name}' has shape [{string.Join(',', tensor.Shape)}], expected [{string.Join(',', shape)}] for {spec.Architecture}",
                    tensor.Name);
            var data = tensor.Read();
            var count = shape.Aggregate(1L, (a, d) => a * d);
            if (data.Length != count)
                throw new WeightImportException($"tensor '{tensor.Name}' holds {data.Length} values, its shape needs {count}", tensor.Name);
            tensors[name] = new WeightTensor(shape, data);
        }
        if (byCanonical.Count > 0)
        {
            var extra = byCanonical.Values.First();
            throw new WeightImportException($"unknown tensor '{extra.Name}': not part of {spec}", extra.Name);
        }
        return new ConvNeXtWeights(spec, classes, tensors, format, sha256);
    }

    /// <summary>timm keeps atto…nano MLPs as 1×1 convs [out,in,1,1]; torchvision keeps layer scale as [C,1,1].</summary>
    private static bool ShapeMatches(string canonical, int[] actual, int[] expected)
    {
        if (actual.SequenceEqual(expected))
            return true;
        var squeezable = canonical.EndsWith(".gamma", StringComparison.Ordinal) || canonical.Contains(".mlp.fc", StringComparison.Ordinal);
        return squeezable && actual.Length == expected.Length + 2 && actual[^2] == 1 && actual[^1] == 1
            && actual.AsSpan(0, expected.Length).SequenceEqual(expected);
    }

    private static (ConvNeXtSpec Spec, int Classes) Infer(Dictionary<string, RawTensor> tensors, NamingScheme scheme)
    {
        var depths = new List<int>();
        var dims = new List<int>();
        for (var s = 0; ; s++)
        {
            var blocks = 0;
            while (tensors.Keys.Any(k => k.StartsWith($"stages.{s}.blocks.{blocks}.", StringComparison.Ordinal)))
                blocks++;
            var hasDownsample = tensors.Keys.Any(k => k.StartsWith($"stages.{s}.downsample.", StringComparison.Ordinal));
            if (blocks == 0 && !hasDownsample)
                break;
            depths.Add(blocks);
            var width = s == 0 ? FirstDim("stem.0.weight") : FirstDim($"stages.{s}.downsample.1.weight");
            dims.Add(width);
        }
        if (depths.Count == 0)
            throw new WeightImportException($"no ConvNeXt stages found (expected tensors like '{scheme.ToSource("stages.0.blocks.0.gamma")}')");
        var classes = FirstDim("head.fc.weight");
        return (ConvNeXtSpec.FromShape([.. depths], [.. dims]), classes);

        int FirstDim(string canonical)
        {
            var source = scheme.ToSource(canonical);
            if (!tensors.TryGetValue(canonical, out var t))
                throw new WeightImportException($"missing tensor '{source}'", source);
            if (t.Shape.Length == 0 || t.Shape[0] <= 0)
                throw new WeightImportException($"tensor '{t.Name}' has shape [{string.Join(',', t.Shape)}]", t.Name);
            return t.Shape[0];
        }
    }

    private static WeightFormat Detect(IReadOnlyList<RawTensor> raw, string path)
    {
        bool Any(string prefix) => raw.Any(t => t.Name.StartsWith(prefix, StringComparison.Ordinal));
        if (Any("convnext.")) return WeightFormat.HuggingFace;
        if (Any("features.")) return WeightFormat.Torchvision;
        if (Any("stem.") || Any("stages.")) return WeightFormat.Timm;
        throw new WeightImportException(
            $"{path}: cannot tell the weight format from its tensor names (first: '{raw.FirstOrDefault()?.Name}'); pass the format explicitly");
    }

    private static bool LooksLikeSafetensors(string path) =>
        path.EndsWith(".safetensors", StringComparison.OrdinalIgnoreCase);

}
