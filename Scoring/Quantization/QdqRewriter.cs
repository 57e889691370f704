using System.Runtime.InteropServices;
using ConvNeXt.Batch.Scoring.Onnx.Proto;
using Google.Protobuf;
using DataType = ConvNeXt.Batch.Scoring.Onnx.Proto.TensorProto.Types.DataType;

namespace ConvNeXt.Batch.Scoring.Quantization;

/// <summary>
/// Applies a <see cref="QdqPlan"/> with calibrated ranges: a QuantizeLinear → DequantizeLinear pair
/// after each planned tensor (every reader takes the dequantized copy; a graph output keeps the
/// float one), int8 weights per output channel behind a DequantizeLinear with <c>axis</c>, int32
/// biases, folded Relus removed. The result is a valid float graph that ONNX Runtime's graph
/// optimizer turns into int8 kernels.
/// </summary>
internal static class QdqRewriter
{
    /// <param name="roundedWeights">Per-channel scales of weights already rounded onto their grid (<see cref="GptqRounding"/>), by initializer name.</param>
    public static void Apply(GraphProto graph, QdqPlan plan, IReadOnlyDictionary<string, (float Min, float Max)> ranges,
        IReadOnlyDictionary<string, float[]>? roundedWeights = null)
    {
        var initializers = graph.Initializer.ToDictionary(i => i.Name, StringComparer.Ordinal);
        var parameters = new Dictionary<string, QuantizationParameters>(StringComparer.Ordinal);
        foreach (var tensor in plan.Tensors)
        {
            var (min, max) = ranges[plan.ParameterSource(tensor)];
            parameters[tensor] = QuantizationParameters.ForActivation(min, max);
        }

        var head = new List<NodeProto>();
        var pairs = new Dictionary<string, NodeProto[]>(StringComparer.Ordinal);
        foreach (var tensor in plan.Tensors)
        {
            var p = parameters[tensor];
            var scale = AddInitializer(graph, initializers, tensor + "_scale", DataType.Float, [], MemoryMarshal.AsBytes(new[] { p.Scale }.AsSpan()).ToArray());
            var zeroPoint = AddInitializer(graph, initializers, tensor + "_zero_point", DataType.Uint8, [], [(byte)p.ZeroPoint]);
            pairs[tensor] =
            [
                new NodeProto { OpType = "QuantizeLinear", Name = tensor + "_QuantizeLinear", Input = { tensor, scale, zeroPoint }, Output = { tensor + "_quantized" } },
                new NodeProto { OpType = "DequantizeLinear", Name = tensor + "_DequantizeLinear", Input = { tensor + "_quantized", scale, zeroPoint }, Output = { tensor + "_dequantized" } },
            ];
        }

        var weightCache = new Dictionary<string, (string Name, float[] Scales)>(StringComparer.Ordinal);
        foreach (var (node, axis) in plan.Compute)
        {
            var (weight, weightScales) = weightCache.TryGetValue(node.Input[1], out var cached) ? cached
                : weightCache[node.Input[1]] = QuantizeWeight(graph, initializers, initializers[node.Input[1]], axis, head, roundedWeights?.GetValueOrDefault(node.Input[1]));
            node.Input[1] = weight;
            if (node.Input.Count > 2 && node.Input[2].Length > 0)
                node.Input[2] = QuantizeBias(graph, initializers, initializers[node.Input[2]], parameters[node.Input[0]].Scale, weightScales, node, head);
        }

        var ordered = new List<NodeProto>(head);
        var inputs = graph.Input.Select(i => i.Name).ToHashSet(StringComparer.Ordinal);
        foreach (var tensor in plan.Tensors.Where(inputs.Contains))
            ordered.AddRange(pairs[tensor]);
        foreach (var node in graph.Node)
        {
            if (plan.FoldedRelus.Contains(node))
                continue;
            if (plan.Compute.ContainsKey(node) && node.OpType == "Conv")
                foreach (var relu in plan.FoldedRelus.Where(r => r.Input[0] == node.Output[0]))
                    node.Output[0] = relu.Output[0];
            ordered.Add(node);
            foreach (var output in node.Output)
                if (pairs.TryGetValue(output, out var pair))
                    ordered.AddRange(pair);
        }
        foreach (var node in ordered)
        {
            if (node.OpType == "QuantizeLinear" && pairs.ContainsKey(node.Input[0]) && node.Name == node.Input[0] + "_QuantizeLinear")
                continue;
            for (var i = 0; i < node.Input.Count; i++)
                if (pairs.ContainsKey(node.Input[i]))
                    node.Input[i] += "_dequantized";
        }
        graph.Node.Clear();
        graph.Node.AddRange(ordered);

        // Float weights and biases that nothing reads any more.
        var read = graph.Node.SelectMany(n => n.Input).Concat(graph.Output.Select(o => o.Name)).ToHashSet(StringComparer.Ordinal);
        foreach (var unused in graph.Initializer.Where(i => !read.Contains(i.Name)).ToList())
            graph.Initializer.Remove(unused);
        var initializerNames = graph.Initializer.Select(i => i.Name).ToHashSet(StringComparer.Ordinal);
        foreach (var stale in graph.Input.Where(i => !initializerNames.Contains(i.Name) && !read.Contains(i.Name) && initializers.ContainsKey(i.Name)).ToList())
            graph.Input.Remove(stale);
    }

    private static (string Name, float[] Scales) QuantizeWeight(GraphProto graph, Dictionary<string, TensorProto> initializers,
        TensorProto weight, int axis, List<NodeProto> head, float[]? roundedScales)
    {
        var values = FloatValues(weight);
        var dims = weight.Dims.ToArray();
        var channels = (int)dims[axis];
        // Axis 0: each channel is one contiguous block; axis 1 of a 2-D [K, N]: every N-th value.
        var inner = axis == 0 ? values.Length / channels : 1;
        var stride = axis == 0 ? 0 : channels;
        var maxAbs = new float[channels];
        for (var i = 0; i < values.Length; i++)
        {
            var c = axis == 0 ? i / inner : i % stride;
            maxAbs[c] = Math.Max(maxAbs[c], MathF.Abs(values[i]));
        }
        var scales = roundedScales ?? maxAbs.Select(QuantizationParameters.SymmetricScale).ToArray();
        var quantized = new byte[values.Length];
        for (var i = 0; i < values.Length; i++)
        {
            var c = axis == 0 ? i / inner : i % stride;
            quantized[i] = unchecked((byte)(sbyte)QuantizationParameters.WeightLevel(values[i], scales[c]));
        }
        var name = weight.Name;
        var q = AddInitializer(graph, initializers, name + "_quantized", DataType.Int8, dims, quantized);
        var s = AddInitializer(graph, initializers, name + "_scale", DataType.Float, [channels], MemoryMarshal.AsBytes(scales.AsSpan()).ToArray());
        var z = AddInitializer(graph, initializers, name + "_zero_point", DataType.Int8, [channels], new byte[channels]);
        head.Add(Dequantize(name, q, s, z, axis));
        return (name + "_dequantized", scales);
    }

    private static string QuantizeBias(GraphProto graph, Dictionary<string, TensorProto> initializers, TensorProto bias,
        float inputScale, float[] weightScales, NodeProto node, List<NodeProto> head)
    {
        var values = FloatValues(bias);
        if (values.Length != weightScales.Length)
            throw new InvalidDataException($"{QdqPlan.Name(node)}: bias has {values.Length} values for {weightScales.Length} output channels");
        var scales = weightScales.Select(w => inputScale * w).ToArray();
        var quantized = new int[values.Length];
        for (var i = 0; i < values.Length; i++)
            quantized[i] = (int)Math.Clamp(Math.Round((double)values[i] / scales[i], MidpointRounding.ToEven), int.MinValue, int.MaxValue);
        // The bias scale depends on this node's input scale, so a bias is quantized per node.
        var name = initializers.ContainsKey(bias.Name + "_quantized") ? $"{bias.Name}_{QdqPlan.Name(node)}" : bias.Name;
        var q = AddInitializer(graph, initializers, name + "_quantized", DataType.Int32, [values.Length], MemoryMarshal.AsBytes(quantized.AsSpan()).ToArray());
        var s = AddInitializer(graph, initializers, name + "_scale", DataType.Float, [values.Length], MemoryMarshal.AsBytes(scales.AsSpan()).ToArray());
        var z = AddInitializer(graph, initializers, name + "_zero_point", DataType.Int32, [values.Length], new byte[values.Length * 4]);
        head.Add(Dequantize(name, q, s, z, 0));
        return name + "_dequantized";
    }

    private static NodeProto Dequantize(string name, string q, string s, string z, int axis) => new()
    {
        OpType = "DequantizeLinear",
        Name = name + "_DequantizeLinear",
        Input = { q, s, z },
        Output = { name + "_dequantized" },
        Attribute = { new AttributeProto { Name = "axis", Type = AttributeProto.Types.AttributeType.Int, I = axis } },
    };

    private static string AddInitializer(GraphProto graph, Dictionary<string, TensorProto> initializers, string name, DataType type, long[] dims, byte[] raw)
    {
        var tensor = new TensorProto { Name = name, DataType = (int)type, RawData = UnsafeByteOperations.UnsafeWrap(raw) };
        tensor.Dims.AddRange(dims);
        graph.Initializer.Add(tensor);
        initializers[name] = tensor;
        return name;
    }

    internal static float[] FloatValues(TensorProto tensor)
    {
        if (tensor.DataType != (int)DataType.Float)
            throw new InvalidDataException($"{tensor.Name}: expected a float32 tensor");
        if (tensor.DataLocation == TensorProto.Types.DataLocation.External)
            throw new InvalidDataException($"{tensor.Name}: weights in external data files are not supported");
        return tensor.RawData.IsEmpty ? tensor.FloatData.ToArray() : MemoryMarshal.Cast<byte, float>(tensor.RawData.Span).ToArray();
    }

    /// <summary>Replaces a float32 tensor's values (as raw data), the inverse of <see cref="FloatValues"/>.</summary>
    internal static void SetFloatValues(TensorProto tensor, float[] values)
    {
        tensor.FloatData.Clear();
        tensor.RawData = ByteString.CopyFrom(MemoryMarshal.AsBytes(values.AsSpan()));
    }
}
