using ConvNeXt.Batch.Scoring.Importers;
using ConvNeXt.Batch.Scoring.Labels;
using ConvNeXt.Batch.Scoring.Models;
using ConvNeXt.Batch.Scoring.Onnx;

namespace ConvNeXt.Batch.Cli.Commands;

/// <summary>What <c>model build</c> and <c>model fetch</c> need to write an ONNX file.</summary>
internal sealed record ModelBuildRequest
{
    public string? Architecture { get; init; }
    public string? WeightsPath { get; init; }
    public WeightFormat Format { get; init; } = WeightFormat.Auto;
    public ClassLabels? Labels { get; init; }
    public ModelPrecision Precision { get; init; } = ModelPrecision.Fp32;
    public int? ImageSize { get; init; }
    public int RandomSeed { get; init; }
    /// <summary>InceptionNeXt graph layout (speed only); <c>null</c>: the measured default.</summary>
    public InceptionNeXtOnnxBuilder.GraphLayout? InceptionLayout { get; init; }
    public required string OutputPath { get; init; }
}

internal sealed record ModelBuildResult(string Path, string Architecture, long Parameters, bool Trained, string WeightsFormat, long Bytes);

/// <summary>Imports (or generates) weights, builds the ONNX graph and writes it, with the metadata that makes the file self-describing.</summary>
internal static class ModelBuilding
{
    public const int ImageNetClasses = 1000;

    public static ModelBuildResult Build(ModelBuildRequest request, CliConsole console)
    {
        var weights = LoadWeights(request, console);
        if (request.Labels is { } labels && labels.Count != weights.Classes)
            throw new CommandFailedException($"the label table has {labels.Count} classes but the weights have {weights.Classes}");

        var options = new ModelBuildOptions
        {
            Precision = request.Precision,
            Labels = request.Labels,
            ImageSize = request.ImageSize,
        };
        Directory.CreateDirectory(System.IO.Path.GetDirectoryName(System.IO.Path.GetFullPath(request.OutputPath))!);
        if (weights is InceptionNeXtWeights inception)
            InceptionNeXtOnnxBuilder.BuildToFile(inception, options, request.OutputPath, request.InceptionLayout);
        else if (request.InceptionLayout is not null)
            throw new UsageException("--mixer-layout and --channel-layout apply to InceptionNeXt models only");
        else
            OnnxModelFile.BuildToFile(weights, options, request.OutputPath);
        return new ModelBuildResult(request.OutputPath, weights.Architecture, weights.ParameterCount, weights.Trained,
            weights.WeightsFormatName, new FileInfo(request.OutputPath).Length);
    }

    /// <summary>Every architecture <c>--arch</c> accepts.</summary>
    public static IEnumerable<string> KnownArchitectures =>
        ConvNeXtSpec.All.Select(s => s.Name).Concat(InceptionNeXtSpec.All.Select(s => s.Id));

    private static IClassifierWeights LoadWeights(ModelBuildRequest request, CliConsole console)
    {
        ConvNeXtSpec? convNeXt = null;
        InceptionNeXtSpec? inceptionNeXt = null;
        if (request.Architecture is { } arch)
        {
            if (InceptionNeXtSpec.TryFind(arch, out var inception) && InceptionNeXtSpec.IsFamilyName(arch))
                inceptionNeXt = inception;
            else if (!InceptionNeXtSpec.IsFamilyName(arch) && ConvNeXtSpec.TryFind(arch, out var found))
                convNeXt = found;
            else
                throw new UsageException($"unknown architecture '{arch}'; known: {string.Join(", ", KnownArchitectures)}");
        }

        if (request.WeightsPath is { } path)
        {
            // The family is read from the tensor names, so --arch is only a check (and picks base_384's preprocessing).
            if (inceptionNeXt is not null || InceptionNeXtImporter.IsInceptionNeXt(path))
            {
                if (convNeXt is not null)
                    throw new CommandFailedException($"{path} holds InceptionNeXt weights but --arch {request.Architecture} is a ConvNeXt");
                var imported = InceptionNeXtImporter.Load(path, format: request.Format);
                if (inceptionNeXt is null)
                    return imported;
                if (!imported.Spec.Depths.SequenceEqual(inceptionNeXt.Depths) || !imported.Spec.Dims.SequenceEqual(inceptionNeXt.Dims))
                    throw new CommandFailedException($"{path} holds {imported.Spec} but --arch {request.Architecture} was requested");
                return imported.WithSpec(inceptionNeXt);
            }
            return WeightImporter.Load(path, request.Format, convNeXt);
        }

        var classes = request.Labels?.Count ?? ImageNetClasses;
        IClassifierWeights random = inceptionNeXt is not null
            ? RandomWeights.Create(inceptionNeXt, classes, request.RandomSeed)
            : RandomWeights.Create(convNeXt ?? ConvNeXtSpec.Find("tiny"), classes, request.RandomSeed);
        console.Warn($"UNTRAINED WEIGHTS: no --weights given, {random.Architecture} gets seeded random weights (seed {request.RandomSeed}); predictions will be meaningless.");
        return random;
    }
}
