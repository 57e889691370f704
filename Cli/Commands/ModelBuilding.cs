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
            ImageSize = request.ImageSize,
        };
        Directory.CreateDirectory(System.IO.Path.GetDirectoryName(System.IO.Path.GetFullPath(request.OutputPath))!);
        ConvNeXtOnnxBuilder.BuildToFile(weights, options, request.OutputPath);
        return new ModelBuildResult(request.OutputPath, weights.Spec.Architecture, weights.ParameterCount, weights.Trained,
            weights.WeightsFormatName, new FileInfo(request.OutputPath).Length);
    }
}
