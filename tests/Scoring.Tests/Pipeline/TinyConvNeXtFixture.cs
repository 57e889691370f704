using ConvNeXt.Batch.Scoring.Importers;
using ConvNeXt.Batch.Scoring.Labels;
using ConvNeXt.Batch.Scoring.Models;
using ConvNeXt.Batch.Scoring.Onnx;
using ConvNeXt.Batch.Scoring.Preprocessing;

namespace ConvNeXt.Batch.Scoring.Tests.Pipeline;

/// <summary>A real (random-weight) ConvNeXt with a dynamic batch, small enough to stream thousands of images quickly.</summary>
public sealed class TinyConvNeXtFixture : IDisposable
{
    public TinyConvNeXtFixture()
    {
        Directory.CreateDirectory(Folder);
        var spec = new ConvNeXtSpec("test", [1, 1, 1, 1], [8, 16, 32, 64]);
        var imagenet = ClassLabels.Load(Repository.LabelsFile);
        Labels = new ClassLabels(imagenet.All.Take(10).Select(l => (l.Wnid, l.Name)));
        ConvNeXtOnnxBuilder.BuildToFile(RandomWeights.Create(spec, 10, seed: 3), new ModelBuildOptions
        {
            Labels = Labels,
            Preprocessing = PreprocessingSettings.Timm(32),
        }, ModelPath);
    }

    public string Folder { get; } = Path.Combine(Path.GetTempPath(), "convnext-prep-" + Guid.NewGuid().ToString("N"));

    public string ModelPath => Path.Combine(Folder, "convnext_test.onnx");

    public ClassLabels Labels { get; }

    public void Dispose() => Directory.Delete(Folder, recursive: true);
}
