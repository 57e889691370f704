using ConvNeXt.Batch.Scoring.Models;
using ConvNeXt.Batch.Scoring.Onnx;
using ConvNeXt.Batch.Scoring.Onnx.Proto;
using Google.Protobuf;
using DataType = ConvNeXt.Batch.Scoring.Onnx.Proto.TensorProto.Types.DataType;

namespace ConvNeXt.Batch.Cli.Tests;

public class QuantizeCommandTests(AttoModelFixture atto) : IClassFixture<AttoModelFixture>
{
    [Fact]
    public async Task Quantize_writes_an_int8_model_that_predicts_and_inspect_shows_it()
    {
        var dir = CliRunner.TempDirectory();
        var output = Path.Combine(dir, "atto-int8.onnx");
        var result = await CliRunner.RunOkAsync("model", "quantize", atto.ModelPath, "--calibrate", Repository.ImagenetVal100, "--images", "4",
            "--method", "percentile", "--output", output);
        Assert.Matches(@"^wrote .*atto-int8\.onnx: int8 Conv \d+, Gemm 1, MatMul \d+; float .*LayerNormalization \d+.*percentile calibration on 4 images", result.Out.Trim());
        var metadata = OnnxModelInfo.Read(output).Metadata;
        Assert.Equal("int8", metadata.Quantized);
        Assert.Equal(("percentile", 4), (metadata.Calibration!.Method, metadata.Calibration.Images));
        Assert.Equal(1000, metadata.Labels!.Count); // carried over from the float model
        var predicted = await CliRunner.RunOkAsync("predict", Path.Combine(Repository.ImagenetSamples, "n01440764_tench.JPEG"), "--model", output, "--json");
        Assert.Contains("\"top\"", predicted.Out);
    }

    [Fact]
    public async Task Gptq_rounding_with_mse_calibration_is_recorded_and_changes_the_int8_weights_not_the_graph()
    {
        var dir = CliRunner.TempDirectory();
        var gptq = Path.Combine(dir, "gptq.onnx");
        var result = await CliRunner.RunOkAsync("model", "quantize", atto.ModelPath, "--calibrate", Repository.ImagenetVal100, "--images", "4",
            "--method", "mse", "--weight-rounding", "gptq", "--output", gptq);
        Assert.Contains("mse calibration on 4 images", result.Out);
        var calibration = OnnxModelInfo.Read(gptq).Metadata.Calibration!;
        Assert.Equal(("mse", "gptq"), (calibration.Method, calibration.WeightRounding));
        var nearest = Path.Combine(dir, "nearest.onnx");
        await CliRunner.RunOkAsync("model", "quantize", atto.ModelPath, "--calibrate", Repository.ImagenetVal100, "--images", "4",
            "--method", "mse", "--output", nearest);
        Assert.Equal("nearest", OnnxModelInfo.Read(nearest).Metadata.Calibration!.WeightRounding);
        // Same graph, different int8 weights: GPTQ moved some of them off their nearest step.
        var gptqGraph = ModelProto.Parser.ParseFrom(File.ReadAllBytes(gptq)).Graph;
        var nearestGraph = ModelProto.Parser.ParseFrom(File.ReadAllBytes(nearest)).Graph.Initializer.ToDictionary(i => i.Name);
        var weights = gptqGraph.Initializer.Where(i => i.DataType == (int)DataType.Int8 && i.Dims.Count >= 2).ToList();
        Assert.NotEmpty(weights);
        Assert.Contains(weights, w => !w.RawData.Span.SequenceEqual(nearestGraph[w.Name].RawData.Span));
        Assert.Equal(nearestGraph.Count, gptqGraph.Initializer.Count);
    }

    [Fact]
    public async Task Equalize_rescales_squeezenets_convolutions_and_is_recorded()
    {
        var dir = CliRunner.TempDirectory();
        var output = Path.Combine(dir, "sq-int8.onnx");
        var result = await CliRunner.RunOkAsync("model", "quantize", Repository.SqueezeNet, "--preprocessing", "caffe", "--labels", Repository.LabelsFile,
            "--calibrate", Repository.ImagenetVal100, "--images", "2", "--equalize", "--output", output);
        // conv1 and the 24 fire convolutions; conv10 feeds the pooled output and is left alone.
        Assert.EndsWith("; 25 convolutions equalised", result.Out.Trim());
        Assert.True(OnnxModelInfo.Read(output).Metadata.Calibration!.Equalized);
        Assert.Contains("channels equalised", ModelProto.Parser.ParseFrom(File.ReadAllBytes(output)).DocString);
    }

    [Fact]
    public async Task An_unknown_weight_rounding_is_one_line_and_exit_2()
    {
        var dir = CliRunner.TempDirectory();
        var output = Path.Combine(dir, "int8.onnx");
        var result = await CliRunner.RunAsync("model", "quantize", atto.ModelPath, "--calibrate", Repository.ImagenetVal100, "--weight-rounding", "adaround", "--output", output);
        Assert.Equal(2, result.ExitCode);
        var line = Assert.Single(result.ErrorLines, l => l.StartsWith("error:", StringComparison.Ordinal));
        Assert.Contains("adaround", line);
        Assert.False(File.Exists(output));
    }

    [Fact]
    public async Task Fewer_usable_calibration_images_than_asked_warns_with_the_count()
    {
        var dir = CliRunner.TempDirectory();
        var images = Directory.CreateDirectory(Path.Combine(dir, "calibration")).FullName;
        foreach (var name in new[] { "n01440764_tench.JPEG", "n01443537_goldfish.JPEG" })
            File.Copy(Path.Combine(Repository.ImagenetSamples, name), Path.Combine(images, name));
        await File.WriteAllTextAsync(Path.Combine(images, "notes.txt"), "not an image");
        var result = await CliRunner.RunOkAsync("model", "quantize", atto.ModelPath, "--calibrate", images, "--images", "5",
            "--output", Path.Combine(dir, "int8.onnx"));
        var warning = Assert.Single(result.ErrorLines, l => l.Contains("usable image", StringComparison.Ordinal));
        Assert.Equal($"warning: --calibrate {images}: 2 usable images, fewer than --images 5; calibrating on 2", warning);
        Assert.Equal(2, OnnxModelInfo.Read(Path.Combine(dir, "int8.onnx")).Metadata.Calibration!.Images);
    }

    [Fact]
    public async Task A_calibration_folder_without_usable_images_is_a_usage_error()
    {
        var dir = CliRunner.TempDirectory();
        var images = Directory.CreateDirectory(Path.Combine(dir, "calibration")).FullName;
        await File.WriteAllTextAsync(Path.Combine(images, "a.jpg"), "not a jpeg");
        var output = Path.Combine(dir, "int8.onnx");
        var result = await CliRunner.RunAsync("model", "quantize", atto.ModelPath, "--calibrate", images, "--output", output);
        Assert.Equal(2, result.ExitCode);
        var line = Assert.Single(result.ErrorLines, l => l.StartsWith("error:", StringComparison.Ordinal));
        Assert.StartsWith($"error: --calibrate {images}: no usable images (1 file could not be read as images)", line);
        Assert.False(File.Exists(output));
    }

    [Fact]
    public async Task An_operator_the_quantizer_does_not_handle_stays_float_with_a_note_and_the_graph_runs()
    {
        var dir = CliRunner.TempDirectory();
        var model = Path.Combine(dir, "abs.onnx");
        WriteConvAbsConvModel(model);
        var output = Path.Combine(dir, "abs-int8.onnx");
        var result = await CliRunner.RunOkAsync("model", "quantize", model, "--calibrate", Repository.ImagenetVal100, "--images", "2", "--output", output);
        var note = Assert.Single(result.ErrorLines, l => l.StartsWith("note:", StringComparison.Ordinal));
        Assert.Equal("note: Abs (1 node) left in float: not an operator the quantizer handles", note);
        Assert.Contains("int8 Conv 2", result.Out);
        var graph = ModelProto.Parser.ParseFrom(File.ReadAllBytes(output)).Graph;
        var abs = Assert.Single(graph.Node, n => n.OpType == "Abs");
        // Abs reads the dequantized float output of the first Conv, and the graph runs end to end.
        Assert.EndsWith("_dequantized", abs.Input[0]);
        var predicted = await CliRunner.RunOkAsync("predict", Path.Combine(Repository.ImagenetSamples, "n01440764_tench.JPEG"), "--model", output);
        Assert.Contains("class", predicted.Out + predicted.Error, StringComparison.OrdinalIgnoreCase);
    }

    [Fact]
    public async Task An_int8_model_on_cuda_warns_with_onnx_runtimes_guidance()
    {
        var dir = CliRunner.TempDirectory();
        var output = Path.Combine(dir, "int8.onnx");
        await CliRunner.RunOkAsync("model", "quantize", atto.ModelPath, "--calibrate", Repository.ImagenetVal100, "--images", "2", "--output", output);
        // auto asks for CUDA like cuda does, but falls back to the CPU on a machine without one (cuda itself fails there).
        var result = await CliRunner.RunOkAsync("predict", Path.Combine(Repository.ImagenetSamples, "n01440764_tench.JPEG"), "--model", output, "--device", "auto");
        var warning = Assert.Single(result.ErrorLines, l => l.Contains("int8 QDQ", StringComparison.Ordinal));
        Assert.Contains("CUDA execution provider runs int8 QDQ graphs slowly or not at all", warning);
        Assert.Contains("TensorRT execution provider", warning);
        Assert.Contains("--device cpu", warning);
    }

    /// <summary>pixel_values → Conv(3→8, 3×3, stride 4) → Abs → Conv(8→10, 1×1) → GlobalAveragePool → Flatten → logits, on 64×64 inputs.</summary>
    private static void WriteConvAbsConvModel(string path)
    {
        var random = new Random(1);
        TensorProto Weights(string name, params long[] dims)
        {
            var count = (int)dims.Aggregate(1L, (a, d) => a * d);
            var values = Enumerable.Range(0, count).Select(_ => (float)(random.NextDouble() - 0.5)).ToArray();
            var tensor = new TensorProto { Name = name, DataType = (int)DataType.Float, RawData = ByteString.CopyFrom(System.Runtime.InteropServices.MemoryMarshal.AsBytes(values.AsSpan())) };
            tensor.Dims.AddRange(dims);
            return tensor;
        }
        var graph = new GraphProto { Name = "abs" };
        graph.Initializer.Add(Weights("w1", 8, 3, 3, 3));
        graph.Initializer.Add(Weights("b1", 8));
        graph.Initializer.Add(Weights("w2", 10, 8, 1, 1));
        var strides = new AttributeProto { Name = "strides", Type = AttributeProto.Types.AttributeType.Ints, Ints = { 4, 4 } };
        graph.Node.Add(new NodeProto { OpType = "Conv", Name = "conv1", Input = { "pixel_values", "w1", "b1" }, Output = { "c1" }, Attribute = { strides } });
        graph.Node.Add(new NodeProto { OpType = "Abs", Name = "abs", Input = { "c1" }, Output = { "a1" } });
        graph.Node.Add(new NodeProto { OpType = "Conv", Name = "conv2", Input = { "a1", "w2" }, Output = { "c2" } });
        graph.Node.Add(new NodeProto { OpType = "GlobalAveragePool", Name = "gap", Input = { "c2" }, Output = { "g" } });
        graph.Node.Add(new NodeProto { OpType = "Flatten", Name = "flatten", Input = { "g" }, Output = { "logits" } });
        ValueInfoProto Value(string name, params long[] dims)
        {
            var shape = new TensorShapeProto();
            shape.Dim.AddRange(dims.Select(d => new TensorShapeProto.Types.Dimension { DimValue = d }));
            return new ValueInfoProto { Name = name, Type = new TypeProto { TensorType = new TypeProto.Types.Tensor { ElemType = (int)DataType.Float, Shape = shape } } };
        }
        graph.Input.Add(Value("pixel_values", 1, 3, 64, 64));
        graph.Output.Add(Value("logits", 1, 10));
        var model = new ModelProto { IrVersion = 8, Graph = graph, OpsetImport = { new OperatorSetIdProto { Domain = "", Version = 17 } } };
        var metadata = new ModelMetadata { Preprocessing = Scoring.Preprocessing.PreprocessingSettings.Timm(64), Output = ModelOutputKind.Logits };
        foreach (var (key, value) in metadata.ToProperties())
            model.MetadataProps.Add(new StringStringEntryProto { Key = key, Value = value });
        File.WriteAllBytes(path, model.ToByteArray());
    }
}
