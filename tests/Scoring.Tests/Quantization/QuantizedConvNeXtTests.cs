using ConvNeXt.Batch.Scoring.Importers;
using ConvNeXt.Batch.Scoring.Models;
using ConvNeXt.Batch.Scoring.Onnx;
using ConvNeXt.Batch.Scoring.Onnx.Proto;
using ConvNeXt.Batch.Scoring.Preprocessing;
using ConvNeXt.Batch.Scoring.Quantization;
using ConvNeXt.Batch.Scoring.Tests.Models;
using DataType = ConvNeXt.Batch.Scoring.Onnx.Proto.TensorProto.Types.DataType;

namespace ConvNeXt.Batch.Scoring.Tests.Quantization;

/// <summary>The product's own ConvNeXt and InceptionNeXt graphs (atto/small random weights, 64×64) quantized on real images.</summary>
public class QuantizedConvNeXtTests
{
    private static readonly PreprocessingSettings Size64 = PreprocessingSettings.Timm(64);

    [Fact]
    public void ConvNeXt_runs_convolutions_and_matmuls_in_int8_keeps_layernorm_and_gelu_float_and_stays_close_to_fp32()
    {
        using var folder = new TempFolder();
        var fp32 = Path.Combine(folder.Path, "atto.onnx");
        var int8 = Path.Combine(folder.Path, "atto-int8.onnx");
        var spec = ConvNeXtSpec.Find("atto");
        ConvNeXtOnnxBuilder.BuildToFile(RandomWeights.Create(spec, 1000, seed: 5), new ModelBuildOptions { ImageSize = 64 }, fp32);
        var report = ModelQuantizer.Quantize(fp32, int8, CalibrationImages.Load(Repository.ImagenetVal100, Size64, 16), Size64, null, new QuantizationOptions());

        var graph = Read(int8).Graph;
        var producers = graph.Node.SelectMany(n => n.Output.Select(o => (o, n))).ToDictionary(p => p.o, p => p.n);
        var blocks = spec.Depths.Sum();
        var matMuls = graph.Node.Where(n => n.OpType == "MatMul").ToList();
        Assert.Equal(2 * blocks, matMuls.Count);
        foreach (var matMul in matMuls)
        {
            Assert.Equal("DequantizeLinear", producers[matMul.Input[0]].OpType);
            var weight = producers[matMul.Input[1]];
            Assert.Equal(1, weight.Attribute.Single(a => a.Name == "axis").I); // [K, N]: one scale per output column
        }
        var head = Assert.Single(graph.Node, n => n.OpType == "Gemm");
        Assert.Equal("DequantizeLinear", producers[head.Input[1]].OpType);
        Assert.Equal(ConvNeXtOnnxBuilder.OutputName, head.Output[0]); // logits stay float
        Assert.Equal(blocks + 4, report.Int8Operators["Conv"]); // depthwise convs, stem, three downsamples
        Assert.Equal(blocks + 4 + 1, report.FloatOperators["LayerNormalization"]);
        Assert.Equal(blocks, report.FloatOperators["Erf"]);
        Assert.All(graph.Node.Where(n => n.OpType == "LayerNormalization"), n => Assert.NotEqual("QuantizeLinear", producers[n.Input[0]].OpType));
        Assert.Empty(report.Notes);

        AssertCloseToFloat(fp32, int8);
    }

    [Fact]
    public void InceptionNeXt_is_quantized_and_stays_close_to_fp32()
    {
        using var folder = new TempFolder();
        var fp32 = Path.Combine(folder.Path, "inx.onnx");
        var int8 = Path.Combine(folder.Path, "inx-int8.onnx");
        var spec = new InceptionNeXtSpec("test", "inception_next_test", [1, 1, 2, 1], [32, 64, 128, 256], [4, 4, 4, 3]);
        InceptionNeXtOnnxBuilder.BuildToFile(RandomWeights.Create(spec, 1000, seed: 5), new ModelBuildOptions { ImageSize = 64 }, fp32);
        var report = ModelQuantizer.Quantize(fp32, int8, CalibrationImages.Load(Repository.ImagenetVal100, Size64, 16), Size64, null, new QuantizationOptions());
        Assert.True(report.Int8Operators["Conv"] > 0);
        Assert.Equal(2, report.Int8Operators["Gemm"]); // the two-layer head
        Assert.Empty(report.Notes);
        AssertCloseToFloat(fp32, int8);
    }

    /// <summary>Median cosine similarity of the logits over 16 real images not used for calibration.</summary>
    private static void AssertCloseToFloat(string fp32, string int8)
    {
        var preprocessor = new ImagePreprocessor(Size64);
        var fp32Bytes = File.ReadAllBytes(fp32);
        var int8Bytes = File.ReadAllBytes(int8);
        var cosines = new List<double>();
        foreach (var file in Directory.GetFiles(Repository.ImagenetSamples).Order(StringComparer.Ordinal).Take(16))
        {
            var tensor = new float[preprocessor.TensorLength];
            preprocessor.Preprocess(File.ReadAllBytes(file), tensor);
            var a = OnnxRunner.Run(fp32Bytes, [1, 3, 64, 64], tensor);
            var b = OnnxRunner.Run(int8Bytes, [1, 3, 64, 64], tensor);
            cosines.Add(a.Zip(b).Sum(p => (double)p.First * p.Second) / Math.Sqrt(a.Sum(v => (double)v * v) * b.Sum(v => (double)v * v)));
        }
        cosines.Sort();
        Assert.True(cosines[cosines.Count / 2] >= 0.99, $"median cosine {cosines[cosines.Count / 2]:F4} (min {cosines[0]:F4})");
    }

    private static ModelProto Read(string path)
    {
        using var stream = File.OpenRead(path);
        return ModelProto.Parser.ParseFrom(stream);
    }

    private sealed class TempFolder : IDisposable
    {
        public string Path { get; } = Directory.CreateTempSubdirectory("convnext-int8-").FullName;

        public void Dispose()
        {
            try { Directory.Delete(Path, recursive: true); } catch (IOException) { }
        }
    }
}
