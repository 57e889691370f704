using ConvNeXt.Batch.Scoring.Importers;
using ConvNeXt.Batch.Scoring.Models;
using ConvNeXt.Batch.Scoring.Onnx.Proto;
using ConvNeXt.Batch.Scoring.Preprocessing;
using Google.Protobuf;
using static ConvNeXt.Batch.Scoring.Onnx.GraphWriter;
using DataType = ConvNeXt.Batch.Scoring.Onnx.Proto.TensorProto.Types.DataType;

namespace ConvNeXt.Batch.Scoring.Onnx;

/// <summary>
/// Writes a ConvNeXt classifier as an ONNX graph (opset 17) that ONNX Runtime runs fast on CPU:
/// convolutions in NCHW, everything else channels-last (LayerNormalization over axis −1 and MatMul
/// need no layout change there), GELU in the erf form ONNX Runtime fuses into BiasGelu.
/// Input <c>pixel_values</c> [batch,3,H,W] float32, output <c>logits</c> [batch,classes] float32.
/// </summary>
public static class ConvNeXtOnnxBuilder
{
    public const int Opset = OnnxModelFile.Opset;
    public const string InputName = "pixel_values";
    public const string OutputName = "logits";

    public static byte[] Build(ConvNeXtWeights weights, ModelBuildOptions? options = null) =>
        BuildModel(weights, options ?? new ModelBuildOptions()).ToByteArray();

    /// <summary>Builds straight into a file, without holding the serialised model in memory.</summary>
    public static void BuildToFile(ConvNeXtWeights weights, ModelBuildOptions options, string path) =>
        OnnxModelFile.Write(BuildModel(weights, options), path);

    /// <summary>The metadata a build with these options records.</summary>
    public static ModelMetadata Metadata(ConvNeXtWeights weights, ModelBuildOptions options)
    {
        if (options.Labels is { } labels && labels.Count != weights.Classes)
            throw new ArgumentException($"{labels.Count} class labels given for a {weights.Classes}-class model", nameof(options));
        var format = weights.WeightsFormatName;
        return new ModelMetadata
        {
            Architecture = weights.Spec.Architecture,
            Preprocessing = options.Preprocessing ?? DefaultPreprocessing(weights.SourceFormat, options.ImageSize ?? 224),
            Labels = options.Labels,
            WeightsFormat = format,
            WeightsSha256 = weights.Sha256,
            Trained = weights.Trained,
            Precision = options.Precision == ModelPrecision.Fp16 ? "fp16" : "fp32",
            ReferenceAccuracy = options.ReferenceAccuracy
                ?? (weights.Trained && weights.Classes == 1000 ? PublishedAccuracy.For(weights.Spec, format) : null),
            Output = ModelOutputKind.Logits,
            Parameters = weights.ParameterCount,
        };
    }

    public static PreprocessingSettings DefaultPreprocessing(WeightFormat? format, int size = 224) => format switch
    {
        WeightFormat.MindSpore => PreprocessingSettings.MindCv(size),
        WeightFormat.Torchvision when size == 224 => PreprocessingSettings.Torchvision(),
        _ => PreprocessingSettings.Timm(size),
    };

    internal static ModelProto BuildModel(ConvNeXtWeights weights, ModelBuildOptions options)
    {
        var spec = weights.Spec;
        var fp16 = options.Precision == ModelPrecision.Fp16;
        var g = new GraphWriter(new GraphProto { Name = spec.Architecture }, fp16 ? DataType.Float16 : DataType.Float);

        string Param(string name, bool transpose = false)
        {
            var t = weights[name];
            return g.Initializer(name, t.Shape, t.Data, transpose);
        }

        // Channels-last LayerNorm (eps 1e-6); statistics in float32 even when the graph is float16.
        string LayerNorm(string x, string prefix) => g.Node("LayerNormalization",
            [x, Param(prefix + ".weight"), Param(prefix + ".bias")], null,
            Attr("axis", -1L), Attr("epsilon", ConvNeXtSpec.LayerNormEpsilon), Attr("stash_type", 1L));
        string ToChannelsLast(string x) => g.Node("Transpose", [x], null, Attr("perm", 0, 2, 3, 1));
        string ToChannelsFirst(string x) => g.Node("Transpose", [x], null, Attr("perm", 0, 3, 1, 2));
        string Conv(string x, string prefix, int kernel, int stride, int pad = 0, int group = 1) => g.Node("Conv",
            [x, Param(prefix + ".weight"), Param(prefix + ".bias")], null,
            Attr("kernel_shape", kernel, kernel), Attr("strides", stride, stride), Attr("pads", pad, pad, pad, pad),
            Attr("dilations", 1, 1), Attr("group", (long)group));
        string Linear(string x, string prefix) =>
            g.Node("Add", [g.Node("MatMul", [x, Param(prefix + ".weight", transpose: true)]), Param(prefix + ".bias")]);
        // Exact GELU, x·½·(1 + erf(x/√2)), in the form ONNX Runtime fuses into one Gelu kernel.
        string Gelu(string x) => g.Node("Mul", [
            g.Node("Mul", [x, g.Node("Add", [g.Node("Erf", [g.Node("Div", [x, g.Scalar(MathF.Sqrt(2f))])]), g.Scalar(1f)])]),
            g.Scalar(0.5f)]);

        // The residual stream is channels-last [N,H,W,C], so LayerNorm(axis -1) and the MLP's MatMuls
        // need no layout change; only the convolutions run in NCHW. ONNX Runtime folds every
        // Transpose around a Conv into its NCHWc reorders, leaving no Transpose in the optimised graph.
        string ChannelsFirstConv(string x, string prefix, int kernel, int stride, int pad = 0, int group = 1) =>
            ToChannelsLast(Conv(ToChannelsFirst(x), prefix, kernel, stride, pad, group));

        // Block: depthwise 7×7 conv → LayerNorm → Linear C→4C → GELU → Linear 4C→C → × layer scale → + input
        string Block(string x, int stage, int index)
        {
            var p = $"stages.{stage}.blocks.{index}";
            var y = ChannelsFirstConv(x, p + ".conv_dw", kernel: 7, stride: 1, pad: 3, group: spec.Dims[stage]);
            y = LayerNorm(y, p + ".norm");
            y = Linear(Gelu(Linear(y, p + ".mlp.fc1")), p + ".mlp.fc2");
            y = g.Node("Mul", [y, Param(p + ".gamma")]);
            return g.Node("Add", [x, y]);
        }

        var x = InputName;
        if (fp16)
            x = g.Node("Cast", [x], null, Attr("to", (long)DataType.Float16));

        // Stem: 4×4 stride-4 patchify conv → LayerNorm
        x = LayerNorm(ToChannelsLast(Conv(x, "stem.0", kernel: 4, stride: 4)), "stem.1");

        // Stages: downsample (LayerNorm → 2×2 stride-2 conv) from the second on, then the blocks
        for (var s = 0; s < spec.StageCount; s++)
        {
            if (s > 0)
                x = ChannelsFirstConv(LayerNorm(x, $"stages.{s}.downsample.0"), $"stages.{s}.downsample.1", kernel: 2, stride: 2);
            for (var j = 0; j < spec.Depths[s]; j++)
                x = Block(x, s, j);
        }

        // Head: global average pool → LayerNorm → Linear
        x = g.Node("ReduceMean", [x], null, Attr("axes", 1, 2), Attr("keepdims", 0L));
        x = LayerNorm(x, "head.norm");
        x = g.Node("Gemm", [x, Param("head.fc.weight"), Param("head.fc.bias")], fp16 ? null : OutputName, Attr("transB", 1L));
        if (fp16)
            g.Node("Cast", [x], OutputName, Attr("to", (long)DataType.Float));

        return OnnxModelFile.Create(g.Graph, options.ImageSize, weights.Classes,
            $"{spec} with a {weights.Classes}-class head, {weights.WeightsFormatName} weights", Metadata(weights, options));
    }
}
