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
        var fp16 = options.Precision == ModelPrecision.Fp16;
        var g = new GraphWriter(new GraphProto { Name = spec.Id }, fp16 ? DataType.Float16 : DataType.Float);
        var channelsLast = layout.Channels == InceptionChannelLayout.ChannelsLast;

        double[] D(string name) => Array.ConvertAll(weights[name].Data, v => (double)v);
        string P(string name, int[] shape, double[] data, bool transpose = false) =>
            g.Initializer(name, shape, Array.ConvertAll(data, v => (float)v), transpose);

        // BatchNorm (eval) as y = s·x + t per channel.
        (double[] Scale, double[] Shift) BatchNorm(string prefix)
        {
            var (gamma, beta, mean, variance) = (D(prefix + ".weight"), D(prefix + ".bias"), D(prefix + ".running_mean"), D(prefix + ".running_var"));
            var scale = new double[gamma.Length];
            var shift = new double[gamma.Length];
            for (var c = 0; c < gamma.Length; c++)
            {
                scale[c] = gamma[c] / Math.Sqrt(variance[c] + InceptionNeXtSpec.BatchNormEpsilon);
                shift[c] = beta[c] - mean[c] * scale[c];
            }
            return (scale, shift);
        }

        string Conv(string x, string name, int[] shape, double[] w, double[] b, int kh, int kw, int stride, int padH, int padW, int group) =>
            g.Node("Conv", [x, P(name + ".weight", shape, w), P(name + ".bias", [shape[0]], b)], null,
                Attr("kernel_shape", kh, kw), Attr("strides", stride, stride), Attr("pads", padH, padW, padH, padW),
                Attr("dilations", 1, 1), Attr("group", (long)group));
        string Gelu(string x) => g.Node("Mul", [
            g.Node("Mul", [x, g.Node("Add", [g.Node("Erf", [g.Node("Div", [x, g.Scalar(MathF.Sqrt(2f))])]), g.Scalar(1f)])]),
            g.Scalar(0.5f)]);
        // 1×1 conv / linear layer from a [out, in] matrix: Conv on NCHW, MatMul + Add on channels-last or 2-D input.
        string Pointwise(string x, string name, int outputs, int inputs, double[] w, double[] b, bool matMul) => matMul
            ? g.Node("Add", [g.Node("MatMul", [x, P(name + ".weight", [outputs, inputs], w, transpose: true)]), P(name + ".bias", [outputs], b)])
            : Conv(x, name, [outputs, inputs, 1, 1], w, b, 1, 1, 1, 0, 0, 1);

        string Mixer(string x, string p, int c)
        {
            var gc = InceptionNeXtSpec.BranchChannels(c);
            var id = c - 3 * gc;
            const int sq = InceptionNeXtSpec.SquareKernel, band = InceptionNeXtSpec.BandKernel;
            var (hw, w, h) = (p + "token_mixer.dwconv_hw", p + "token_mixer.dwconv_w", p + "token_mixer.dwconv_h");
            if (layout.Mixer == InceptionMixerLayout.Branches)
            {
                var parts = SplitChannels(x, [id, gc, gc, gc]);
                return g.Node("Concat", [
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
            var split = SplitChannels(x, [id, 3 * gc]);
            return g.Node("Concat", [split[0], Conv(split[1], p + "token_mixer.merged", [3 * gc, 1, band, band], kernel, bias, band, band, 1, band / 2, band / 2, 3 * gc)],
                null, Attr("axis", 1L));
        }

        string[] SplitChannels(string x, long[] sizes)
        {
            var name = g.Node("Split", [x, g.Int64s(sizes)], null, Attr("axis", 1L));
            // GraphWriter names a node's only output; a Split has one output per part.
            var node = g.Graph.Node[^1];
            node.Output.Clear();
            var outputs = Enumerable.Range(0, sizes.Length).Select(i => $"{name}_{i}").ToArray();
            node.Output.AddRange(outputs);
            return outputs;
        }

        // Block: mixer → BatchNorm → fc1 → GELU → fc2 → × layer scale → + input; BatchNorm folded into
        // fc1 (fc1(s·y + t) = (W·diag s)·y + (b + W·t)), the layer scale into fc2.
        string Block(string x, int stage, int index)
        {
            var p = $"stages.{stage}.blocks.{index}.";
            var c = spec.Dims[stage];
            var hidden = spec.MlpRatios[stage] * c;
            var y = Mixer(channelsLast ? g.Node("Transpose", [x], null, Attr("perm", 0, 3, 1, 2)) : x, p, c);
            if (channelsLast)
                y = g.Node("Transpose", [y], null, Attr("perm", 0, 2, 3, 1));

            var (s, t) = BatchNorm(p + "norm");
            var w1 = D(p + "mlp.fc1.weight");
            var b1 = D(p + "mlp.fc1.bias");
            for (var o = 0; o < hidden; o++)
                for (var i = 0; i < c; i++)
                {
                    b1[o] += w1[o * c + i] * t[i];
                    w1[o * c + i] *= s[i];
                }
            var gamma = D(p + "gamma");
            var w2 = D(p + "mlp.fc2.weight");
            var b2 = D(p + "mlp.fc2.bias");
            for (var o = 0; o < c; o++)
            {
                b2[o] *= gamma[o];
                for (var i = 0; i < hidden; i++)
                    w2[o * hidden + i] *= gamma[o];
            }
            y = Pointwise(Gelu(Pointwise(y, p + "mlp.fc1", hidden, c, w1, b1, channelsLast)), p + "mlp.fc2", c, hidden, w2, b2, channelsLast);
            return g.Node("Add", [x, y]);
        }

        var x = ConvNeXtOnnxBuilder.InputName;
        if (fp16)
            x = g.Node("Cast", [x], null, Attr("to", (long)DataType.Float16));

        // Stem: 4×4 stride-4 conv → BatchNorm, folded: W' = s[o]·W, b' = s[o]·b + t[o].
        {
            var (s, t) = BatchNorm("stem.1");
            var w = D("stem.0.weight");
            var b = D("stem.0.bias");
            var per = w.Length / b.Length;
            for (var o = 0; o < b.Length; o++)
            {
                for (var k = 0; k < per; k++)
                    w[o * per + k] *= s[o];
                b[o] = b[o] * s[o] + t[o];
            }
            x = Conv(x, "stem.0", [spec.Dims[0], 3, 4, 4], w, b, 4, 4, 4, 0, 0, 1);
        }

        for (var stage = 0; stage < spec.StageCount; stage++)
        {
            if (stage > 0)
            {
                // Downsample: BatchNorm → 2×2 stride-2 conv without padding, so every input the conv sees
                // went through the BatchNorm and the fold is exact: W' = W·s[i], b' = b + Σ W·t[i].
                var (s, t) = BatchNorm($"stages.{stage}.downsample.0");
                var name = $"stages.{stage}.downsample.1";
                var w = D(name + ".weight");
                var b = D(name + ".bias");
                var (cOut, cIn) = (spec.Dims[stage], spec.Dims[stage - 1]);
                for (var o = 0; o < cOut; o++)
                    for (var i = 0; i < cIn; i++)
                        for (var k = 0; k < 4; k++)
                        {
                            var at = (o * cIn + i) * 4 + k;
                            b[o] += w[at] * t[i];
                            w[at] *= s[i];
                        }
                if (channelsLast)
                    x = g.Node("Transpose", [x], null, Attr("perm", 0, 3, 1, 2));
                x = Conv(x, name, [cOut, cIn, 2, 2], w, b, 2, 2, 2, 0, 0, 1);
            }
            if (channelsLast)
                x = g.Node("Transpose", [x], null, Attr("perm", 0, 2, 3, 1));
            for (var j = 0; j < spec.Depths[stage]; j++)
                x = Block(x, stage, j);
        }

        // Head: global average pool → fc1 (C→3C) → GELU → LayerNorm (eps 1e-6) → fc2.
        var last = spec.Dims[^1];
        var headHidden = InceptionNeXtSpec.HeadRatio * last;
        x = g.Node("ReduceMean", [x], null, Attr("axes", channelsLast ? [1, 2] : [2, 3]), Attr("keepdims", 0L));
        x = g.Node("Gemm", [x, P("head.fc1.weight", [headHidden, last], D("head.fc1.weight")), P("head.fc1.bias", [headHidden], D("head.fc1.bias"))], null, Attr("transB", 1L));
        x = g.Node("LayerNormalization", [Gelu(x), P("head.norm.weight", [headHidden], D("head.norm.weight")), P("head.norm.bias", [headHidden], D("head.norm.bias"))], null,
            Attr("axis", -1L), Attr("epsilon", InceptionNeXtSpec.HeadLayerNormEpsilon), Attr("stash_type", 1L));
        x = g.Node("Gemm", [x, P("head.fc2.weight", [weights.Classes, headHidden], D("head.fc2.weight")), P("head.fc2.bias", [weights.Classes], D("head.fc2.bias"))],
            fp16 ? null : ConvNeXtOnnxBuilder.OutputName, Attr("transB", 1L));
        if (fp16)
            g.Node("Cast", [x], ConvNeXtOnnxBuilder.OutputName, Attr("to", (long)DataType.Float));

        return OnnxModelFile.Create(g.Graph, options.ImageSize, weights.Classes,
            $"{spec} with a {weights.Classes}-class head, {weights.WeightsFormatName} weights, BatchNorm folded",
            Metadata(weights, options));
    }
}
