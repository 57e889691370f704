using ConvNeXt.Batch.Scoring.Importers;
using ConvNeXt.Batch.Scoring.Onnx;
using Xunit.Abstractions;

namespace ConvNeXt.Batch.Scoring.Tests.Models;

/// <summary>
/// The built graph, run by ONNX Runtime, reproduces logits computed by an independent implementation
/// from the same weights in every supported checkpoint format.
/// </summary>
public class GoldenLogitsTests(ITestOutputHelper output)
{
    private const double Tolerance = 1e-4;

    [Theory]
    [InlineData("timm.safetensors", WeightFormat.Timm)]
    [InlineData("torchvision.safetensors", WeightFormat.Torchvision)]
    [InlineData("hf.safetensors", WeightFormat.HuggingFace)]
    [InlineData("mindcv.ckpt", WeightFormat.MindSpore)]
    public void Golden_mini_checkpoint_reproduces_reference_logits(string file, WeightFormat expectedFormat)
    {
        var golden = Golden.Mini;
        var weights = WeightImporter.Load(golden.File(file));

        Assert.Equal(expectedFormat, weights.SourceFormat);
        Assert.Equal([1, 1, 2, 1], weights.Spec.Depths);
        Assert.Equal([8, 16, 32, 64], weights.Spec.Dims);
        Assert.Equal(10, weights.Classes);

        var logits = OnnxRunner.Run(ConvNeXtOnnxBuilder.Build(weights), golden.InputShape, golden.Input);
        var error = OnnxRunner.RelativeL2(logits, golden.Logits);
        output.WriteLine($"{file}: relative L2 {error:E2}");
        Assert.True(error <= Tolerance, $"{file}: relative L2 error {error:E3} > {Tolerance}");
    }

    [Fact]
    public void Golden_atto_timm_checkpoint_reproduces_reference_logits()
    {
        var golden = Golden.Atto;
        var weights = WeightImporter.Load(golden.File("timm.safetensors"));

        Assert.Equal("atto", weights.Spec.Name);
        Assert.Equal(1000, weights.Classes);
        Assert.Equal(3_695_520, weights.ParameterCount);

        var logits = OnnxRunner.Run(ConvNeXtOnnxBuilder.Build(weights), golden.InputShape, golden.Input);
        var error = OnnxRunner.RelativeL2(logits, golden.Logits);
        output.WriteLine($"atto: relative L2 {error:E2}");
        Assert.True(error <= Tolerance, $"relative L2 error {error:E3} > {Tolerance}");
        Assert.Equal(OnnxRunner.ArgMaxRows(golden.Logits, 1000), OnnxRunner.ArgMaxRows(logits, 1000));
    }

    [Fact]
    public void Fixed_image_size_graph_gives_the_same_logits()
    {
        var golden = Golden.Mini;
        var weights = WeightImporter.Load(golden.File("timm.safetensors"));
        var logits = OnnxRunner.Run(
            ConvNeXtOnnxBuilder.Build(weights, new ModelBuildOptions { ImageSize = golden.InputShape[2] }), golden.InputShape, golden.Input);
        Assert.True(OnnxRunner.RelativeL2(logits, golden.Logits) <= Tolerance);
    }
}
