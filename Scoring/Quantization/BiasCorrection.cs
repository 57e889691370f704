using System.Runtime.InteropServices;
using ConvNeXt.Batch.Scoring.Onnx.Proto;
using Google.Protobuf;
using Microsoft.ML.OnnxRuntime;
using DataType = ConvNeXt.Batch.Scoring.Onnx.Proto.TensorProto.Types.DataType;

namespace ConvNeXt.Batch.Scoring.Quantization;

/// <summary>
/// Empirical bias correction (Nagel et al., "Data-Free Quantization Through Weight Equalization and
/// Bias Correction", ICCV 2019, §4.2; AIMET's empirical variant): quantization shifts the mean of
/// each int8 layer's output (rounded weights, clipped and rounded inputs), and the shift adds up
/// through the network. The per-output-channel mean of every corrected node's output is measured on
/// the calibration images in the float model and in the QDQ model, and the difference is added to
/// the node's bias (its int32 bias, or the float bias of an <c>Add</c> that is its only reader).
/// All nodes are corrected at once; each further pass measures again with the earlier corrections
/// in place and corrects what is left (upstream corrections change the shift downstream). The QDQ
/// model is run unfused, in float: the same values ONNX Runtime's int8 kernels produce.
/// </summary>
internal static class BiasCorrection
{
    /// <returns>The mean relative shift (see <see cref="BiasCorrectionReport"/>) before each pass and after the last.</returns>
    public static BiasCorrectionReport Apply(ModelProto floatModel, ModelProto quantized, IReadOnlyList<QuantizedCompute> nodes,
        CalibrationImages images, int height, int width, int passes, QuantizationOptions options)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(passes);
        var graph = quantized.Graph;
        var initializers = graph.Initializer.ToDictionary(i => i.Name, StringComparer.Ordinal);
        var readers = graph.Node.SelectMany(n => n.Input.Select(i => (i, n))).ToLookup(p => p.i, p => p.n, StringComparer.Ordinal);
        var targets = new List<Target>();
        foreach (var compute in nodes)
        {
            var channelAxis = compute.Node.OpType == "Conv" ? 1 : -1;
            if (compute.Bias is { } bias)
                targets.Add(new Target(compute.FloatOutput, compute.Node.Output[0], channelAxis, initializers[bias], compute.BiasScales));
            else if (FloatBias(compute.Node, initializers, readers) is { } floatBias)
                targets.Add(new Target(compute.FloatOutput, compute.Node.Output[0], channelAxis, floatBias, null));
        }
        var report = new BiasCorrectionReport { CorrectedNodes = targets.Count };
        if (targets.Count == 0)
            return report;

        var total = (passes + 2) * images.Count;
        var runs = 0;
        var reference = Means(floatModel, targets.Select(t => t.FloatOutput).ToArray());
        for (var pass = 0; pass <= passes; pass++)
        {
            var measured = Means(quantized, targets.Select(t => t.QuantizedOutput).ToArray());
            report.RelativeShift.Add(targets.Select((t, i) => RelativeShift(reference[i], measured[i])).Average());
            if (Environment.GetEnvironmentVariable("BC_DEBUG") == "1")
                for (var i = 0; i < targets.Count; i++)
                    Console.Error.WriteLine($"pass {pass} {targets[i].QuantizedOutput} shift {RelativeShift(reference[i], measured[i]):F4} ref0 {reference[i][0]:F4} q0 {measured[i][0]:F4} ref1 {reference[i][1]:F4} q1 {measured[i][1]:F4} scale0 {targets[i].Scales?[0]}");
            if (pass == passes)
                break;
            for (var i = 0; i < targets.Count; i++)
                targets[i].Shift(reference[i], measured[i]);
        }
        return report;

        double[][] Means(ModelProto model, string[] tensors)
        {
            var sums = new double[tensors.Length][];
            var counts = new long[tensors.Length];
            using var session = new CalibrationSession(model, tensors, GraphOptimizationLevel.ORT_ENABLE_BASIC, options.IntraOpThreads);
            session.Run(images, height, width, (t, values, shape) =>
            {
                var axis = targets[t].ChannelAxis < 0 ? shape.Length - 1 : targets[t].ChannelAxis;
                var channels = (int)shape[axis];
                var inner = 1;
                for (var d = axis + 1; d < shape.Length; d++)
                    inner *= (int)shape[d];
                var sum = sums[t] ??= new double[channels];
                for (var i = 0; i < values.Length; i++)
                    sum[i / inner % channels] += values[i];
                counts[t] += values.Length / channels;
            }, _ => options.Progress?.Invoke(++runs, total));
            return sums.Select((s, t) => s.Select(v => v / counts[t]).ToArray()).ToArray();
        }
    }

    /// <summary>RMS of the per-channel mean shift over RMS of the float per-channel means.</summary>
    private static double RelativeShift(double[] reference, double[] measured)
    {
        double shift = 0, size = 0;
        for (var c = 0; c < reference.Length; c++)
        {
            shift += (reference[c] - measured[c]) * (reference[c] - measured[c]);
            size += reference[c] * reference[c];
        }
        return size > 0 ? Math.Sqrt(shift / size) : 0;
    }

    /// <summary>The 1-D float initializer of an <c>Add</c> that is the node's only reader and the initializer's only user.</summary>
    private static TensorProto? FloatBias(NodeProto node, Dictionary<string, TensorProto> initializers, ILookup<string, NodeProto> readers)
    {
        if (readers[node.Output[0]].ToList() is not [{ OpType: "Add", Domain: "" } add] || add.Input.Count != 2)
            return null;
        var other = add.Input[0] == node.Output[0] ? add.Input[1] : add.Input[0];
        return initializers.TryGetValue(other, out var bias) && bias.DataType == (int)DataType.Float && bias.Dims.Count == 1
            && readers[other].Count() == 1 && bias.DataLocation != TensorProto.Types.DataLocation.External ? bias : null;
    }

    private sealed record Target(string FloatOutput, string QuantizedOutput, int ChannelAxis, TensorProto Bias, float[]? Scales)
    {
        /// <summary>Moves the bias by the float mean less the measured mean, in the bias's own units.</summary>
        public void Shift(double[] reference, double[] measured)
        {
            if (Scales is { } scales)
            {
                var values = MemoryMarshal.Cast<byte, int>(Bias.RawData.Span).ToArray();
                if (values.Length != reference.Length)
                    return;
                for (var c = 0; c < values.Length; c++)
                    values[c] = (int)Math.Clamp(values[c] + Math.Round((reference[c] - measured[c]) / scales[c], MidpointRounding.ToEven), int.MinValue, int.MaxValue);
                Bias.RawData = ByteString.CopyFrom(MemoryMarshal.AsBytes(values.AsSpan()));
            }
            else
            {
                var values = QdqRewriter.FloatValues(Bias);
                if (values.Length != reference.Length)
                    return;
                for (var c = 0; c < values.Length; c++)
                    values[c] += (float)(reference[c] - measured[c]);
                Bias.FloatData.Clear();
                Bias.RawData = ByteString.CopyFrom(MemoryMarshal.AsBytes(values.AsSpan()));
            }
        }
    }
}
