using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using ConvNeXt.Batch.Scoring.Onnx.Proto;
using Google.Protobuf;
using DataType = ConvNeXt.Batch.Scoring.Onnx.Proto.TensorProto.Types.DataType;

namespace ConvNeXt.Batch.Scoring.Onnx;

/// <summary>
/// Appends nodes and initializers to a <see cref="GraphProto"/>, in one element type for all
/// floating-point parameters. Constants that are not parameters (scalars of the GELU formula) are
/// Constant nodes, so that the initializers are exactly the model's parameters. Besides the ONNX
/// primitives it writes the pieces every classifier graph here shares: the <c>pixel_values</c> →
/// <c>logits</c> interface, GELU, channels-last LayerNorm, layout transposes.
/// </summary>
internal sealed class GraphWriter(GraphProto graph, DataType floatType)
{
    /// <summary>The graph input, [batch,3,H,W] float32.</summary>
    public const string InputName = "pixel_values";
    /// <summary>The graph output, [batch,classes] float32.</summary>
    public const string OutputName = "logits";

    private readonly Dictionary<(float[] Data, int Rows), ByteString> _encoded =
        new(new ArrayIdentity());
    private int _next;

    public GraphProto Graph { get; } = graph;
    public DataType FloatType { get; } = floatType;

    /// <summary>A parameter as an initializer; <paramref name="transpose"/> turns a 2-D [out,in] into [in,out].</summary>
    public string Initializer(string name, int[] shape, float[] data, bool transpose = false)
    {
        var dims = transpose ? new long[] { shape[1], shape[0] } : shape.Select(d => (long)d).ToArray();
        // Identical arrays are encoded once: cheap for shared buffers, and the graph bytes are the same.
        var key = (data, transpose ? shape[0] : -1);
        if (!_encoded.TryGetValue(key, out var raw))
        {
            var values = transpose ? Transpose(data, shape[0], shape[1]) : data;
            raw = FloatType == DataType.Float16 ? EncodeHalf(values) : EncodeSingle(values);
            _encoded[key] = raw;
        }
        var tensor = new TensorProto { Name = name, DataType = (int)FloatType, RawData = raw };
        tensor.Dims.AddRange(dims);
        Graph.Initializer.Add(tensor);
        return name;
    }

    public string Node(string opType, string[] inputs, string? output = null, params AttributeProto[] attributes)
    {
        output ??= $"{opType}_{_next}";
        var node = new NodeProto { OpType = opType, Name = $"{opType}_{_next++}" };
        node.Input.AddRange(inputs);
        node.Output.Add(output);
        node.Attribute.AddRange(attributes);
        Graph.Node.Add(node);
        return output;
    }

    /// <summary>A scalar of the graph's float type, as a Constant node.</summary>
    public string Scalar(float value)
    {
        var tensor = new TensorProto { DataType = (int)FloatType };
        tensor.RawData = FloatType == DataType.Float16 ? EncodeHalf([value]) : EncodeSingle([value]);
        return Node("Constant", [], $"const_{_next}", Attr("value", tensor));
    }

    /// <summary>A 1-D int64 tensor (shapes, split sizes) as a Constant node, so it is not counted as a parameter.</summary>
    public string Int64s(params long[] values)
    {
        var tensor = new TensorProto { DataType = (int)DataType.Int64 };
        tensor.Dims.Add(values.Length);
        tensor.Int64Data.AddRange(values);
        return Node("Constant", [], $"const_{_next}", Attr("value", tensor));
    }

    /// <summary>The pixel values in the graph's float type (a float16 graph casts its float32 input).</summary>
    public string PixelValues() => FloatType == DataType.Float16
        ? Node("Cast", [InputName], null, Attr("to", (long)DataType.Float16))
        : InputName;

    /// <summary>The classifier's last layer, x·Wᵀ + b, written as the float32 <c>logits</c> output.</summary>
    public void Logits(string x, string weight, string bias)
    {
        var fp16 = FloatType == DataType.Float16;
        x = Node("Gemm", [x, weight, bias], fp16 ? null : OutputName, Attr("transB", 1L));
        if (fp16)
            Node("Cast", [x], OutputName, Attr("to", (long)DataType.Float));
    }

    /// <summary>A 2-D convolution (NCHW) with a bias; padding is the same on both sides of an axis.</summary>
    public string Conv(string x, string weight, string bias, int kernelH, int kernelW, int stride, int padH, int padW, int group) =>
        Node("Conv", [x, weight, bias], null,
            Attr("kernel_shape", kernelH, kernelW), Attr("strides", stride, stride), Attr("pads", padH, padW, padH, padW),
            Attr("dilations", 1, 1), Attr("group", (long)group));

    /// <summary>Exact GELU, x·½·(1 + erf(x/√2)), in the form ONNX Runtime fuses into one Gelu kernel.</summary>
    public string Gelu(string x) => Node("Mul", [
        Node("Mul", [x, Node("Add", [Node("Erf", [Node("Div", [x, Scalar(MathF.Sqrt(2f))])]), Scalar(1f)])]),
        Scalar(0.5f)]);

    /// <summary>LayerNorm over the last axis; statistics in float32 even when the graph is float16.</summary>
    public string LayerNorm(string x, string weight, string bias, float epsilon) => Node("LayerNormalization",
        [x, weight, bias], null, Attr("axis", -1L), Attr("epsilon", epsilon), Attr("stash_type", 1L));

    /// <summary>Affine layer on the last axis, x·Wᵀ + b, as MatMul + Add (ONNX Runtime fuses a following GELU).</summary>
    public string Linear(string x, string transposedWeight, string bias) =>
        Node("Add", [Node("MatMul", [x, transposedWeight]), bias]);

    /// <summary>NCHW → NHWC.</summary>
    public string ToChannelsLast(string x) => Node("Transpose", [x], null, Attr("perm", 0, 2, 3, 1));

    /// <summary>NHWC → NCHW.</summary>
    public string ToChannelsFirst(string x) => Node("Transpose", [x], null, Attr("perm", 0, 3, 1, 2));

    /// <summary>Splits the channel axis (1) into parts of the given sizes; one output name per part.</summary>
    public string[] SplitChannels(string x, long[] sizes)
    {
        var name = Node("Split", [x, Int64s(sizes)], null, Attr("axis", 1L));
        // Node names a node's only output; a Split has one output per part.
        var node = Graph.Node[^1];
        node.Output.Clear();
        var outputs = Enumerable.Range(0, sizes.Length).Select(i => $"{name}_{i}").ToArray();
        node.Output.AddRange(outputs);
        return outputs;
    }

    public static AttributeProto Attr(string name, long value) =>
        new() { Name = name, Type = AttributeProto.Types.AttributeType.Int, I = value };

    public static AttributeProto Attr(string name, float value) =>
        new() { Name = name, Type = AttributeProto.Types.AttributeType.Float, F = value };

    public static AttributeProto Attr(string name, params long[] values)
    {
        var a = new AttributeProto { Name = name, Type = AttributeProto.Types.AttributeType.Ints };
        a.Ints.AddRange(values);
        return a;
    }

    public static AttributeProto Attr(string name, TensorProto value) =>
        new() { Name = name, Type = AttributeProto.Types.AttributeType.Tensor, T = value };

    private static float[] Transpose(float[] data, int rows, int cols)
    {
        var result = new float[data.Length];
        for (var r = 0; r < rows; r++)
            for (var c = 0; c < cols; c++)
                result[c * rows + r] = data[r * cols + c];
        return result;
    }

    private static ByteString EncodeSingle(float[] values)
    {
        if (!BitConverter.IsLittleEndian)
            throw new PlatformNotSupportedException("ONNX raw_data is little-endian");
        return ByteString.CopyFrom(MemoryMarshal.AsBytes(values.AsSpan()));
    }

    private static ByteString EncodeHalf(float[] values)
    {
        var bytes = new byte[values.Length * 2];
        var halves = MemoryMarshal.Cast<byte, Half>(bytes.AsSpan());
        for (var i = 0; i < values.Length; i++)
            halves[i] = (Half)values[i];
        return UnsafeByteOperations.UnsafeWrap(bytes);
    }

    private sealed class ArrayIdentity : IEqualityComparer<(float[] Data, int Rows)>
    {
        public bool Equals((float[] Data, int Rows) x, (float[] Data, int Rows) y) =>
            ReferenceEquals(x.Data, y.Data) && x.Rows == y.Rows;

        public int GetHashCode((float[] Data, int Rows) obj) =>
            HashCode.Combine(RuntimeHelpers.GetHashCode(obj.Data), obj.Rows);
    }
}
