using ConvNeXt.Batch.Scoring.Onnx.Proto;
using Microsoft.ML.OnnxRuntime;

namespace ConvNeXt.Batch.Scoring.Quantization;

/// <summary>
/// Evens out the channels of a tensor that is quantized with one scale: a channel whose values stay far below the
/// tensor's largest uses few of its 256 steps. Where a convolution's output reaches other convolutions only through
/// operators that commute with a positive per-channel factor (Relu, MaxPool, Concat), channel c is multiplied by
/// s_c in the producer (its weights and bias) and divided out of the readers' input weights: the float model computes
/// the same function, the quantized one loses less. s_c = (R / r_c)^½ with r_c the channel's largest value on the
/// calibration images and R the largest over the tensor (or the Concat it joins), as SmoothQuant (Xiao et al., 2023)
/// splits the difficulty between activation and weight; Nagel et al.'s cross-layer equalisation (2019) is the same
/// move aimed at per-tensor weights.
/// </summary>
internal static class ChannelEqualization
{
    private const double Strength = 0.5;
    private const double MaxFactor = 16;

    /// <returns>How many producer convolutions were rescaled.</returns>
    public static int Apply(ModelProto model, CalibrationImages images, int height, int width, QuantizationOptions options)
    {
        var graph = model.Graph;
        var initializers = graph.Initializer.ToDictionary(i => i.Name, StringComparer.Ordinal);
        var readers = graph.Node.SelectMany(n => n.Input.Select(i => (i, n))).ToLookup(p => p.i, p => p.n, StringComparer.Ordinal);
        var outputs = graph.Output.Select(o => o.Name).ToHashSet(StringComparer.Ordinal);

        var groups = new List<Group>();
        foreach (var producer in graph.Node.Where(n => IsPlainConv(n, initializers)))
        {
            if (readers[producer.Output[0]].ToList() is not [{ OpType: "Relu" } relu] || outputs.Contains(producer.Output[0]))
                continue;
            var channels = (int)initializers[producer.Input[1]].Dims[0];
            var consumers = new List<(NodeProto Conv, int Offset)>();
            string? joined = null;
            if (Follow(relu.Output[0], 0, channels, consumers, ref joined))
                groups.Add(new Group(producer, relu.Output[0], joined ?? relu.Output[0], consumers));
        }
        if (groups.Count == 0)
            return 0;

        // Each channel's largest value on the calibration images, in the float model.
        var tensors = groups.Select(g => g.Activation).ToArray();
        var maxima = new double[tensors.Length][];
        using (var session = new CalibrationSession(model, tensors, GraphOptimizationLevel.ORT_ENABLE_BASIC, options.IntraOpThreads))
            session.Run(images, height, width, (t, values, shape) =>
            {
                var channels = (int)shape[1];
                var inner = values.Length / channels / (int)shape[0];
                var max = maxima[t] ??= new double[channels];
                for (var i = 0; i < values.Length; i++)
                {
                    var c = i / inner % channels;
                    if (values[i] > max[c])
                        max[c] = values[i];
                }
            });

        // A Concat's channels are quantized together: R is the largest over every producer that joins it.
        var tensorMax = groups.Select((g, i) => (g.Quantized, Max: maxima[i].Max())).GroupBy(p => p.Quantized)
            .ToDictionary(p => p.Key, p => p.Max(q => q.Max), StringComparer.Ordinal);
        for (var i = 0; i < groups.Count; i++)
        {
            var range = tensorMax[groups[i].Quantized];
            var factors = maxima[i].Select(r => r > 0 && range > 0 ? Math.Min(MaxFactor, Math.Pow(range / r, Strength)) : 1).ToArray();
            Scale(initializers[groups[i].Producer.Input[1]], factors, inputAxis: false);
            if (groups[i].Producer.Input.Count > 2 && groups[i].Producer.Input[2].Length > 0)
                Scale(initializers[groups[i].Producer.Input[2]], factors, inputAxis: false);
            var inverse = factors.Select(f => 1 / f).ToArray();
            foreach (var (conv, offset) in groups[i].Consumers)
                Scale(initializers[conv.Input[1]], inverse, inputAxis: true, offset);
        }
        return groups.Count;

        // Every path from the tensor must end in a plain convolution, through Relu, MaxPool or Concat only.
        bool Follow(string tensor, int offset, int channels, List<(NodeProto, int)> found, ref string? concat)
        {
            if (outputs.Contains(tensor))
                return false;
            foreach (var reader in readers[tensor])
            {
                switch (reader.OpType)
                {
                    case "Conv" when reader.Input[0] == tensor && IsPlainConv(reader, initializers)
                                     && initializers[reader.Input[1]].Dims[1] >= offset + channels
                                     && readers[reader.Input[1]].Count() == 1:
                        found.Add((reader, offset));
                        break;
                    case "Relu" or "MaxPool" when reader.Input[0] == tensor:
                        if (!Follow(reader.Output[0], offset, channels, found, ref concat))
                            return false;
                        break;
                    case "Concat" when reader.Attribute.FirstOrDefault(a => a.Name == "axis")?.I == 1 && concat is null:
                        var before = 0;
                        foreach (var input in reader.Input)
                        {
                            if (input == tensor)
                                break;
                            if (ChannelsOf(input) is not { } c)
                                return false;
                            before += c;
                        }
                        concat = reader.Output[0];
                        if (!Follow(reader.Output[0], offset + before, channels, found, ref concat))
                            return false;
                        break;
                    default:
                        return false;
                }
            }
            return true;
        }

        // A Concat input's channel count, from the convolution that makes it (through Relu/MaxPool).
        int? ChannelsOf(string tensor)
        {
            var producer = graph.Node.FirstOrDefault(n => n.Output.Contains(tensor));
            while (producer is { OpType: "Relu" or "MaxPool" })
                producer = graph.Node.FirstOrDefault(n => n.Output.Contains(producer.Input[0]));
            return producer is not null && IsPlainConv(producer, initializers) ? (int)initializers[producer.Input[1]].Dims[0] : null;
        }
    }

    private static bool IsPlainConv(NodeProto node, Dictionary<string, TensorProto> initializers) =>
        node.OpType == "Conv" && node.Domain is "" or "ai.onnx"
        && node.Input.Count >= 2 && initializers.TryGetValue(node.Input[1], out var w) && w.Dims.Count == 4
        && w.DataType == (int)TensorProto.Types.DataType.Float
        && (node.Input.Count < 3 || node.Input[2].Length == 0 || initializers.ContainsKey(node.Input[2]))
        && node.Attribute.FirstOrDefault(a => a.Name == "group") is not { I: not 1 };

    /// <summary>Multiplies a weight's output channels (axis 0), or its input channels from <paramref name="offset"/> (axis 1), by the factors.</summary>
    private static void Scale(TensorProto tensor, double[] factors, bool inputAxis, int offset = 0)
    {
        var values = QdqRewriter.FloatValues(tensor);
        var dims = tensor.Dims.ToArray();
        if (!inputAxis)
        {
            var inner = values.Length / (int)dims[0];
            for (var i = 0; i < values.Length; i++)
                values[i] = (float)(values[i] * factors[i / inner]);
        }
        else
        {
            var (inputs, kernel) = ((int)dims[1], (int)(dims[2] * dims[3]));
            for (var i = 0; i < values.Length; i++)
            {
                var c = i / kernel % inputs - offset;
                if (c >= 0 && c < factors.Length)
                    values[i] = (float)(values[i] * factors[c]);
            }
        }
        QdqRewriter.SetFloatValues(tensor, values);
    }

    private sealed record Group(NodeProto Producer, string Activation, string Quantized, List<(NodeProto Conv, int Offset)> Consumers);
}
