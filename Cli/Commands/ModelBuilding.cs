using ConvNeXt.Batch.Scoring.Importers;
using ConvNeXt.Batch.Scoring.Labels;
using ConvNeXt.Batch.Scoring.Models;
using ConvNeXt.Batch.Scoring.Onnx;
using ConvNeXt.Batch.Scoring.Preprocessing;

namespace ConvNeXt.Batch.Cli.Commands;

/// <summary>What <c>model build</c> and <c>model fetch</c> need to write an ONNX file.</summary>
internal sealed record ModelBuildRequest
{
    public string? Architecture { get; init; }
    public string? WeightsPath { get; init; }
    public WeightFormat Format { get; init; } = WeightFormat.Auto;
    public ClassLabels? Labels { get; init; }
    public Precision Precision { get; init; } = Precision.Fp32;
    public int RandomSeed { get; init; }
    public required string OutputPath { get; init; }
}

internal sealed record ModelBuildResult(string Path, string Architecture, long Parameters, bool Trained, string WeightsFormat, long Bytes);

/// <summary>Imports (or generates) weights, builds the ONNX graph and writes it, with the metadata that makes the file self-describing.</summary>
internal static class ModelBuilding
{
    public const int ImageNetClasses = 1000;

    public static ModelBuildResult Build(ModelBuildRequest request, CliConsole console)
    {
        ConvNeXtSpec? spec = null;
        if (request.Architecture is { } arch)
        {
            if (!ConvNeXtSpec.TryFind(arch, out var found))
                throw new UsageException($"unknown architecture '{arch}'; known: {string.Join(", ", ConvNeXtSpec.All.Select(s => s.Name))}");
            spec = found;
        }

        ConvNeXtWeights weights;
        if (request.WeightsPath is { } path)
        {
            weights = WeightImporter.Load(path, request.Format, spec);
        }
        else
        {
            var classes = request.Labels?.Count ?? ImageNetClasses;
            weights = RandomWeights.Create(spec ?? ConvNeXtSpec.Find("tiny"), classes, request.RandomSeed);
            console.Warn($"UNTRAINED WEIGHTS: no --weights given, {weights.Spec.Architecture} gets seeded random weights (seed {request.RandomSeed}); predictions will be meaningless.");
        }

        if (request.Labels is { } labels && labels.Count != weights.Classes)
            throw new CommandFailedException($"the label table has {labels.Count} classes but the weights have {weights.Classes}");

        var options = new ModelBuildOptions
        {
            Precision = request.Precision,
            Labels = request.Labels,
            Preprocessing = PreprocessingFor(weights.SourceFormat),
            ReferenceAccuracy = weights.Trained ? ReferenceAccuracyFor(weights.Spec, weights.SourceFormat) : null,
        };
        var bytes = ConvNeXtOnnxBuilder.Build(weights, options);
        Directory.CreateDirectory(System.IO.Path.GetDirectoryName(System.IO.Path.GetFullPath(request.OutputPath))!);
        File.WriteAllBytes(request.OutputPath, bytes);
        return new ModelBuildResult(request.OutputPath, weights.Spec.Architecture, weights.ParameterCount, weights.Trained, weights.WeightsFormatName, bytes.LongLength);
    }

    /// <summary>Each source's published evaluation preprocessing (see DESIGN.md).</summary>
    public static PreprocessingSettings PreprocessingFor(WeightFormat? format) => format switch
    {
        WeightFormat.MindSpore => PreprocessingSettings.MindCv(),
        WeightFormat.Torchvision => PreprocessingSettings.Torchvision(),
        _ => PreprocessingSettings.Timm(),
    };

    /// <summary>Published ImageNet-1k accuracy for the checkpoints we know; null otherwise.</summary>
    public static ReferenceAccuracy? ReferenceAccuracyFor(ConvNeXtSpec spec, WeightFormat? format) => (spec.Name, format) switch
    {
        ("tiny", WeightFormat.MindSpore) => new ReferenceAccuracy(81.91, 95.79, "MindCV convnext_tiny"),
        ("small", WeightFormat.MindSpore) => new ReferenceAccuracy(83.40, 96.36, "MindCV convnext_small"),
        ("base", WeightFormat.MindSpore) => new ReferenceAccuracy(83.32, 96.24, "MindCV convnext_base"),
        ("tiny", WeightFormat.Torchvision) => new ReferenceAccuracy(82.52, 96.146, "torchvision ConvNeXt_Tiny_Weights.IMAGENET1K_V1"),
        _ => null,
    };
}
