using ConvNeXt.Batch.Scoring.Importers;
using ConvNeXt.Batch.Scoring.Onnx;
using Xunit.Abstractions;

namespace ConvNeXt.Batch.Scoring.Tests.Models;

/// <summary>float16/bfloat16 checkpoints, and float16 graphs, against the float32 golden logits.</summary>
public sealed class ReducedPrecisionTests(ITestOutputHelper output) : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("convnext-fp16-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Theory]
    [InlineData("F16", 2e-3)]
    [InlineData("BF16", 2e-2)]
    public void Half_precision_checkpoint_is_imported_and_gives_close_logits(string dtype, double bound)
    {
        var golden = Golden.Mini;
        var path = Path.Combine(_dir, $"timm-{dtype}.safetensors");
        SafetensorsWriter.Write(path, SafetensorsWriter.ReadAll(golden.File("timm.safetensors"))
            .Select(dtype == "F16" ? SafetensorsWriter.ToHalf : (Func<SafetensorsWriter.Entry, SafetensorsWriter.Entry>)SafetensorsWriter.ToBFloat16));

        var weights = WeightImporter.Load(path);
        var logits = OnnxRunner.Run(ConvNeXtOnnxBuilder.Build(weights), golden.InputShape, golden.Input);

        var error = OnnxRunner.RelativeL2(logits, golden.Logits);
        output.WriteLine($"{dtype} weights: relative L2 {error:E2}");
        Assert.True(error > 0, "rounding the weights must change the logits a little");
        Assert.True(error < bound, $"{dtype} weights: relative L2 {error:E3} >= {bound}");
    }

    /// <summary>
    /// The float16 graph's accuracy cost against float32; the measured figures go in docs/models.md.
    /// </summary>
    [Theory]
    [InlineData("golden-mini")]
    [InlineData("golden-atto")]
    public void Fp16_graph_stays_close_to_fp32(string folder)
    {
        var golden = folder == "golden-mini" ? Golden.Mini : Golden.Atto;
        var weights = WeightImporter.Load(golden.File("timm.safetensors"));

        var fp32 = OnnxRunner.Run(ConvNeXtOnnxBuilder.Build(weights), golden.InputShape, golden.Input);
        var fp16Model = ConvNeXtOnnxBuilder.Build(weights, new ModelBuildOptions { Precision = ModelPrecision.Fp16 });
        var fp16 = OnnxRunner.Run(fp16Model, golden.InputShape, golden.Input);

        var error = OnnxRunner.RelativeL2(fp16, fp32);
        var top1 = OnnxRunner.ArgMaxRows(fp32, golden.Classes);
        var agree = OnnxRunner.ArgMaxRows(fp16, golden.Classes).Zip(top1).Count(p => p.First == p.Second);
        output.WriteLine($"{folder}: fp16 vs fp32 relative L2 {error:E2}, top-1 agreement {agree}/{top1.Length}; vs float64 reference {OnnxRunner.RelativeL2(fp16, golden.Logits):E2}");

        Assert.True(error > 0, "a float16 graph must differ from float32 somewhere");
        Assert.True(error < 1e-2, $"fp16 relative L2 {error:E3}");
        Assert.Equal(top1.Length, agree);
        Assert.True(fp16Model.Length < 0.6 * ConvNeXtOnnxBuilder.Build(weights).Length, "fp16 weights take half the bytes");
    }
}
