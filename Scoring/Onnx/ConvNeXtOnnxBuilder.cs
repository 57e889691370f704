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
    public const string InputName = GraphWriter.InputName;
    public const string OutputName = GraphWriter.OutputName;

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

        string LayerNorm(string x, string prefix) =>
            g.LayerNorm(x, Param(prefix + ".weight"), Param(prefix + ".bias"), ConvNeXtSpec.LayerNormEpsilon);
        string Conv(string x, string prefix, int kernel, int stride, int pad = 0, int group = 1) =>
            g.Conv(x, Param(prefix + ".weight"), Param(prefix + ".bias"), kernel, kernel, stride, pad, pad, group);
        string Linear(string x, string prefix) => g.Linear(x, Param(prefix + ".weight", transpose: true), Param(prefix + ".bias"));

        // The residual stream is channels-last [N,H,W,C], so LayerNorm(axis -1) and the MLP's MatMuls
        // need no layout change; only the convolutions run in NCHW. ONNX Runtime folds every
        // Transpose around a Conv into its NCHWc reorders, leaving no Transpose in the optimised graph.
        string ChannelsFirstConv(string x, string prefix, int kernel, int stride, int pad = 0, int group = 1) =>
            g.ToChannelsLast(Conv(g.ToChannelsFirst(x), prefix, kernel, stride, pad, group));

        // Block: depthwise 7×7 conv → LayerNorm → Linear C→4C → GELU → Linear 4C→C → × layer scale → + input
        string Block(string x, int stage, int index)
        {
            var p = $"stages.{stage}.blocks.{index}";
            var y = ChannelsFirstConv(x, p + ".conv_dw", kernel: 7, stride: 1, pad: 3, group: spec.Dims[stage]);
            y = LayerNorm(y, p + ".norm");
            y = Linear(g.Gelu(Linear(y, p + ".mlp.fc1")), p + ".mlp.fc2");
            y = g.Node("Mul", [y, Param(p + ".gamma")]);
            return g.Node("Add", [x, y]);
        }

        var x = g.PixelValues();

        // Stem: 4×4 stride-4 patchify conv → LayerNorm
        x = LayerNorm(g.ToChannelsLast(Conv(x, "stem.0", kernel: 4, stride: 4)), "stem.1");

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
        g.Logits(x, Param("head.fc.weight"), Param("head.fc.bias"));

        return OnnxModelFile.Create(g.Graph, options.ImageSize, weights.Classes,
            $"{spec} with a {weights.Classes}-class head, {weights.WeightsFormatName} weights", Metadata(weights, options));
    }
}
