using ConvNeXt.Batch.Scoring.Importers;
using ConvNeXt.Batch.Scoring.Models;
using ConvNeXt.Batch.Scoring.Onnx.Proto;
using ConvNeXt.Batch.Scoring.Preprocessing;
using static ConvNeXt.Batch.Scoring.Onnx.GraphWriter;
using DataType = ConvNeXt.Batch.Scoring.Onnx.Proto.TensorProto.Types.DataType;

namespace ConvNeXt.Batch.Scoring.Onnx;

/// <summary>How the Inception token mixer is written into the graph (all give the same function).</summary>
public enum InceptionMixerLayout
{
    /// <summary>Split into identity + three groups, one depthwise conv per group (3×3, 1×11, 11×1), Concat: the paper's form.</summary>
    Branches,
    /// <summary>Split into identity + the convolved channels, one depthwise 11×11 conv whose kernels are the three kernels zero-padded, Concat.</summary>
    MergedKernel,
}

/// <summary>Where the residual stream of a block lives between the mixer convolutions.</summary>
public enum InceptionChannelLayout
{
    /// <summary>NCHW throughout; the MLP is two 1×1 Convs.</summary>
    ChannelsFirst,
    /// <summary>NHWC residual stream, the MLP as MatMuls (ONNX Runtime fuses bias + GELU), NCHW only around the mixer.</summary>
    ChannelsLast,
}

/// <summary>
/// Writes an InceptionNeXt classifier as an ONNX graph (opset 17) for inference. Every BatchNorm is
/// folded into the adjacent convolution where the fold is exact: the stem's BatchNorm into the stem
/// conv before it, a downsample's BatchNorm into the unpadded 2×2 conv after it, a block's BatchNorm
/// into the 1×1 fc1 after the mixer; the layer scale goes into fc2. Folding is done in float64, so
/// the graph computes the same function as the checkpoint up to float32 rounding.
/// Input <c>pixel_values</c> [batch,3,H,W] float32 (H, W multiples of 32), output <c>logits</c> [batch,classes] float32.
/// The graph follows timm's <c>inception_next.py</c> module by module (see <see cref="MetaNeXtGraph"/>).
/// </summary>
public static class InceptionNeXtOnnxBuilder
{
    /// <summary>Build choices that change only speed, for measuring; the defaults are the measured fastest on CPU.</summary>
    public sealed record GraphLayout(InceptionMixerLayout Mixer = InceptionMixerLayout.Branches, InceptionChannelLayout Channels = InceptionChannelLayout.ChannelsFirst);

    public static byte[] Build(InceptionNeXtWeights weights, ModelBuildOptions? options = null, GraphLayout? layout = null) =>
        Google.Protobuf.MessageExtensions.ToByteArray(BuildModel(weights, options ?? new ModelBuildOptions(), layout ?? new GraphLayout()));

    public static void BuildToFile(InceptionNeXtWeights weights, ModelBuildOptions options, string path, GraphLayout? layout = null) =>
        OnnxModelFile.Write(BuildModel(weights, options, layout ?? new GraphLayout()), path);

    /// <summary>The metadata a build with these options records.</summary>
    public static ModelMetadata Metadata(InceptionNeXtWeights weights, ModelBuildOptions options)
    {
        if (options.Labels is { } labels && labels.Count != weights.Classes)
            throw new ArgumentException($"{labels.Count} class labels given for a {weights.Classes}-class model", nameof(options));
        var spec = weights.Spec;
        var size = options.ImageSize ?? spec.ImageSize;
        return new ModelMetadata
        {
            Architecture = spec.Architecture,
            Preprocessing = options.Preprocessing ?? PreprocessingSettings.FromCropPct(size, spec.CropPct, Interpolation.Bicubic),
            Labels = options.Labels,
            WeightsFormat = weights.WeightsFormatName,
            WeightsSha256 = weights.Sha256,
            Trained = weights.Trained,
            Precision = options.Precision == ModelPrecision.Fp16 ? "fp16" : "fp32",
            ReferenceAccuracy = options.ReferenceAccuracy
                ?? (weights.Trained && weights.Classes == 1000 && weights.SourceFormat == WeightFormat.Timm && size == spec.ImageSize
                    ? spec.PublishedAccuracy : null),
            Output = ModelOutputKind.Logits,
            Parameters = weights.ParameterCount,
        };
    }

    internal static ModelProto BuildModel(InceptionNeXtWeights weights, ModelBuildOptions options, GraphLayout layout)
    {
        var spec = weights.Spec;
        var floatType = options.Precision == ModelPrecision.Fp16 ? DataType.Float16 : DataType.Float;
        var graph = new MetaNeXtGraph(new GraphWriter(new GraphProto { Name = spec.Id }, floatType), weights, layout);
        graph.Forward();
        return OnnxModelFile.Create(graph.Writer.Graph, options.ImageSize, weights.Classes,
            $"{spec} with a {weights.Classes}-class head, {weights.WeightsFormatName} weights, BatchNorm folded",
            Metadata(weights, options));
    }

    /// <summary>Which side of a convolution a BatchNorm sits on.</summary>
    private enum BatchNormSide
    {
        /// <summary>On the conv's outputs: W' = s[o]·W, b' = s[o]·b + t[o].</summary>
        After,
        /// <summary>
        /// On the conv's inputs: W' = W·s[i], b' = b + Σ W·t[i]. Exact only when the conv has no padding
        /// (every input it sees went through the BatchNorm), as for the 2×2 downsample and 1×1 fc1.
        /// </summary>
        Before,
    }

    /// <summary>
    /// Folds an eval-mode BatchNorm (y = s·x + t per channel, with s = γ/√(var + ε), t = β − mean·s)
    /// into a convolution's weight [out, in, k…] and bias [out], in place.
    /// </summary>
    private static void FoldBatchNorm(InceptionNeXtWeights weights, string prefix, double[] weight, double[] bias, BatchNormSide side)
    {
        var (gamma, beta, mean, variance) = (Doubles(weights, prefix + ".weight"), Doubles(weights, prefix + ".bias"),
            Doubles(weights, prefix + ".running_mean"), Doubles(weights, prefix + ".running_var"));
        var scale = new double[gamma.Length];
        var shift = new double[gamma.Length];
        for (var c = 0; c < gamma.Length; c++)
        {
            scale[c] = gamma[c] / Math.Sqrt(variance[c] + InceptionNeXtSpec.BatchNormEpsilon);
            shift[c] = beta[c] - mean[c] * scale[c];
        }
        var outputs = bias.Length;
        if (side == BatchNormSide.After)
        {
            var per = weight.Length / outputs;
            for (var o = 0; o < outputs; o++)
            {
                for (var k = 0; k < per; k++)
                    weight[o * per + k] *= scale[o];
                bias[o] = bias[o] * scale[o] + shift[o];
            }
            return;
        }
        var inputs = scale.Length;
        var area = weight.Length / (outputs * inputs);
        for (var o = 0; o < outputs; o++)
            for (var i = 0; i < inputs; i++)
                for (var k = 0; k < area; k++)
                {
                    var at = (o * inputs + i) * area + k;
                    bias[o] += weight[at] * shift[i];
                    weight[at] *= scale[i];
                }
    }

    private static double[] Doubles(InceptionNeXtWeights weights, string name) => Array.ConvertAll(weights[name].Data, v => (double)v);

    /// <summary>
    /// The network in timm's modules (<c>inception_next.py</c>): <c>MetaNeXt</c> = stem → stages → head,
    /// a <c>MetaNeXtStage</c> = downsample → blocks, a <c>MetaNeXtBlock</c> = token mixer
    /// (<c>InceptionDWConv2d</c>) → BatchNorm → <c>ConvMlp</c> → layer scale → + input.
    /// </summary>
    private sealed class MetaNeXtGraph(GraphWriter writer, InceptionNeXtWeights weights, GraphLayout layout)
    {
        private readonly InceptionNeXtSpec _spec = weights.Spec;
        private readonly bool _channelsLast = layout.Channels == InceptionChannelLayout.ChannelsLast;

        public GraphWriter Writer { get; } = writer;

        public void Forward()
        {
            var x = Stem(Writer.PixelValues());
            for (var stage = 0; stage < _spec.StageCount; stage++)
                x = Stage(x, stage);
            Head(x);
        }

        /// <summary>4×4 stride-4 conv → BatchNorm, folded into the conv.</summary>
        private string Stem(string x)
        {
            var (w, b) = (D("stem.0.weight"), D("stem.0.bias"));
            FoldBatchNorm(weights, "stem.1", w, b, BatchNormSide.After);
            return Conv(x, "stem.0", [_spec.Dims[0], 3, 4, 4], w, b, 4, 4, 4, 0, 0, 1);
        }

        /// <summary>Downsample from the second stage on, then the blocks; NCHW in, the block layout out.</summary>
        private string Stage(string x, int stage)
        {
            if (stage > 0)
                x = Downsample(_channelsLast ? Writer.ToChannelsFirst(x) : x, stage);
            if (_channelsLast)
                x = Writer.ToChannelsLast(x);
            for (var j = 0; j < _spec.Depths[stage]; j++)
                x = Block(x, stage, j);
            return x;
        }

        /// <summary>BatchNorm → 2×2 stride-2 conv without padding, the BatchNorm folded into the conv.</summary>
        private string Downsample(string x, int stage)
        {
            var name = $"stages.{stage}.downsample.1";
            var (w, b) = (D(name + ".weight"), D(name + ".bias"));
            FoldBatchNorm(weights, $"stages.{stage}.downsample.0", w, b, BatchNormSide.Before);
            return Conv(x, name, [_spec.Dims[stage], _spec.Dims[stage - 1], 2, 2], w, b, 2, 2, 2, 0, 0, 1);
        }

        /// <summary>Token mixer → BatchNorm → MLP → × layer scale → + input.</summary>
        private string Block(string x, int stage, int index)
        {
            var p = $"stages.{stage}.blocks.{index}.";
            var c = _spec.Dims[stage];
            var y = TokenMixer(_channelsLast ? Writer.ToChannelsFirst(x) : x, p + "token_mixer", c);
            if (_channelsLast)
                y = Writer.ToChannelsLast(y);
            return Writer.Node("Add", [x, Mlp(y, p, c, _spec.MlpRatios[stage] * c)]);
        }

        /// <summary>
        /// Inception depthwise convolution: the channels split into an identity part and three groups
        /// convolved by a 3×3 square, a 1×11 band and an 11×1 band kernel, concatenated back.
        /// </summary>
        private string TokenMixer(string x, string p, int c)
        {
            var gc = InceptionNeXtSpec.BranchChannels(c);
            var id = c - 3 * gc;
            const int sq = InceptionNeXtSpec.SquareKernel, band = InceptionNeXtSpec.BandKernel;
            var (hw, w, h) = (p + ".dwconv_hw", p + ".dwconv_w", p + ".dwconv_h");
            if (layout.Mixer == InceptionMixerLayout.Branches)
            {
                var parts = Writer.SplitChannels(x, [id, gc, gc, gc]);
                return Writer.Node("Concat", [
                    parts[0],
                    Conv(parts[1], hw, [gc, 1, sq, sq], D(hw + ".weight"), D(hw + ".bias"), sq, sq, 1, sq / 2, sq / 2, gc),
                    Conv(parts[2], w, [gc, 1, 1, band], D(w + ".weight"), D(w + ".bias"), 1, band, 1, 0, band / 2, gc),
                    Conv(parts[3], h, [gc, 1, band, 1], D(h + ".weight"), D(h + ".bias"), band, 1, 1, band / 2, 0, gc),
                ], null, Attr("axis", 1L));
            }
            // One band×band depthwise kernel per convolved channel, the three kernels centred in it.
            var kernel = new double[3 * gc * band * band];
            var bias = new double[3 * gc];
            void Place(string name, int branch, int kh, int kw)
            {
                var (weight, b) = (D(name + ".weight"), D(name + ".bias"));
                for (var ch = 0; ch < gc; ch++)
                {
                    bias[branch * gc + ch] = b[ch];
                    for (var i = 0; i < kh; i++)
                        for (var j = 0; j < kw; j++)
                            kernel[((branch * gc + ch) * band + band / 2 - kh / 2 + i) * band + band / 2 - kw / 2 + j] = weight[(ch * kh + i) * kw + j];
                }
            }
            Place(hw, 0, sq, sq);
            Place(w, 1, 1, band);
            Place(h, 2, band, 1);
            var split = Writer.SplitChannels(x, [id, 3 * gc]);
            return Writer.Node("Concat", [split[0], Conv(split[1], p + ".merged", [3 * gc, 1, band, band], kernel, bias, band, band, 1, band / 2, band / 2, 3 * gc)],
                null, Attr("axis", 1L));
        }

        /// <summary>fc1 (C→hidden) → GELU → fc2 (hidden→C), with the block's BatchNorm folded into fc1 and its layer scale into fc2.</summary>
        private string Mlp(string x, string p, int c, int hidden)
        {
            var (w1, b1) = (D(p + "mlp.fc1.weight"), D(p + "mlp.fc1.bias"));
            FoldBatchNorm(weights, p + "norm", w1, b1, BatchNormSide.Before);
            var gamma = D(p + "gamma");
            var (w2, b2) = (D(p + "mlp.fc2.weight"), D(p + "mlp.fc2.bias"));
            for (var o = 0; o < c; o++)
            {
                b2[o] *= gamma[o];
                for (var i = 0; i < hidden; i++)
                    w2[o * hidden + i] *= gamma[o];
            }
            return Pointwise(Writer.Gelu(Pointwise(x, p + "mlp.fc1", hidden, c, w1, b1)), p + "mlp.fc2", c, hidden, w2, b2);
        }

        /// <summary>Global average pool → fc1 (C→3C) → GELU → LayerNorm → fc2 (the logits).</summary>
        private void Head(string x)
        {
            var last = _spec.Dims[^1];
            var hidden = InceptionNeXtSpec.HeadRatio * last;
            x = Writer.Node("ReduceMean", [x], null, Attr("axes", _channelsLast ? [1, 2] : [2, 3]), Attr("keepdims", 0L));
            x = Writer.Node("Gemm", [x, Param("head.fc1.weight", [hidden, last]), Param("head.fc1.bias", [hidden])], null, Attr("transB", 1L));
            x = Writer.LayerNorm(Writer.Gelu(x), Param("head.norm.weight", [hidden]), Param("head.norm.bias", [hidden]), InceptionNeXtSpec.HeadLayerNormEpsilon);
            Writer.Logits(x, Param("head.fc2.weight", [weights.Classes, hidden]), Param("head.fc2.bias", [weights.Classes]));
        }

        /// <summary>A 1×1 conv from an [out, in] matrix: Conv on NCHW, MatMul + Add on the channels-last stream.</summary>
        private string Pointwise(string x, string name, int outputs, int inputs, double[] w, double[] b) => _channelsLast
            ? Writer.Linear(x, P(name + ".weight", [outputs, inputs], w, transpose: true), P(name + ".bias", [outputs], b))
            : Conv(x, name, [outputs, inputs, 1, 1], w, b, 1, 1, 1, 0, 0, 1);

        private string Conv(string x, string name, int[] shape, double[] w, double[] b, int kh, int kw, int stride, int padH, int padW, int group) =>
            Writer.Conv(x, P(name + ".weight", shape, w), P(name + ".bias", [shape[0]], b), kh, kw, stride, padH, padW, group);

        private double[] D(string name) => Doubles(weights, name);

        private string P(string name, int[] shape, double[] data, bool transpose = false) =>
            Writer.Initializer(name, shape, Array.ConvertAll(data, v => (float)v), transpose);

        /// <summary>A checkpoint tensor as it is (no fold), through the same float64 round trip as the folded ones.</summary>
        private string Param(string name, int[] shape) => P(name, shape, D(name));
    }
}
