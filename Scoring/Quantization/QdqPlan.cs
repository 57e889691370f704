using ConvNeXt.Batch.Scoring.Onnx.Proto;
using DataType = ConvNeXt.Batch.Scoring.Onnx.Proto.TensorProto.Types.DataType;

namespace ConvNeXt.Batch.Scoring.Quantization;

/// <summary>
/// Decides, before any calibration, which nodes run in int8 and which tensors get a
/// QuantizeLinear → DequantizeLinear pair, following ONNX Runtime's QDQ quantizer
/// (onnxruntime/python/tools/quantization, <c>qdq_quantizer.py</c> and the CPU QDQ fusions in
/// <c>qdq_selector_action_transformer.cc</c>):
/// <list type="bullet">
/// <item>Conv, MatMul and Gemm with a constant weight are the int8 compute: their activation input
/// and weight are quantized (per-channel int8 weights), bias becomes int32 (scale = input scale ×
/// weight scale). Conv's output is quantized as well (ORT fuses DQ → Conv → Q into QLinearConv);
/// a MatMul/Gemm output only when every reader is int8 too, else ORT runs it as
/// MatMulIntegerToFloat / QGemm with a float output.</item>
/// <item>A Relu that is a Conv's only reader is folded into the Conv's output quantization (uint8
/// with zero point 0 clips at 0), as ORT's QDQ quantizer removes such activations.</item>
/// <item>MaxPool, AveragePool, GlobalAveragePool and Concat between int8 tensors stay int8
/// (MaxPool keeps its input's scale, so ORT can drop the pair around it).</item>
/// <item>Everything else stays float: LayerNormalization, Softmax and GELU (Erf) by design, as they
/// lose accuracy in int8; operators the quantizer does not know get a note.</item>
/// </list>
/// </summary>
internal sealed class QdqPlan
{
    /// <summary>Operators left in float on purpose: normalisation, softmax, GELU, elementwise and layout.</summary>
    private static readonly HashSet<string> FloatByDesign = new(StringComparer.Ordinal)
    {
        "LayerNormalization", "Softmax", "LogSoftmax", "Gelu", "Erf", "Add", "Sub", "Mul", "Div", "Pow", "Sqrt",
        "ReduceMean", "Transpose", "Reshape", "Flatten", "Squeeze", "Unsqueeze", "Constant", "Shape", "Split",
        "Cast", "Sigmoid", "Tanh", "Relu", "BatchNormalization", "Clip", "Dropout", "Identity",
    };

    private static readonly HashSet<string> Int8DataOps = new(StringComparer.Ordinal)
    {
        "MaxPool", "AveragePool", "GlobalAveragePool", "Concat",
    };

    private readonly List<string> _tensors = [];
    private readonly HashSet<string> _tensorSet = new(StringComparer.Ordinal);

    private QdqPlan() { }

    /// <summary>Conv/MatMul/Gemm nodes that run in int8, with the axis of their weight's output channels.</summary>
    public Dictionary<NodeProto, int> Compute { get; } = new(ReferenceEqualityComparer.Instance);

    /// <summary>Nodes left in float on request (--float-head, --exclude).</summary>
    public HashSet<NodeProto> KeptFloat { get; } = new(ReferenceEqualityComparer.Instance);

    /// <summary>MaxPool/Concat/… nodes that run between int8 tensors.</summary>
    public HashSet<NodeProto> DataNodes { get; } = new(ReferenceEqualityComparer.Instance);

    /// <summary>Relu nodes folded into the quantization of their Conv's output (removed from the graph).</summary>
    public HashSet<NodeProto> FoldedRelus { get; } = new(ReferenceEqualityComparer.Instance);

    /// <summary>Tensors (names in the float graph) that get a QuantizeLinear → DequantizeLinear pair, in graph order.</summary>
    public IReadOnlyList<string> Tensors => _tensors;

    /// <summary>A tensor that must use another's parameters (MaxPool's output: its input's; a Concat's inputs: its output's); follow the chain to the source.</summary>
    public Dictionary<string, string> SharedParameters { get; } = new(StringComparer.Ordinal);

    /// <summary>Operators left in float and why; the ones not handled at all say so.</summary>
    public List<string> Notes { get; } = [];

    /// <summary>Float nodes by operator type.</summary>
    public SortedDictionary<string, int> FloatOperators { get; } = new(StringComparer.Ordinal);

    /// <param name="floatHead">Leave the classifier head (the last Conv/MatMul/Gemm before each graph output) in float.</param>
    /// <param name="exclude">Nodes (by name, or by first output when unnamed) to leave in float, as ORT's <c>nodes_to_exclude</c>.</param>
    public static QdqPlan Create(GraphProto graph, bool floatHead = false, IReadOnlyCollection<string>? exclude = null)
    {
        var plan = new QdqPlan();
        var initializers = graph.Initializer.ToDictionary(i => i.Name, StringComparer.Ordinal);
        var graphOutputs = graph.Output.Select(o => o.Name).ToHashSet(StringComparer.Ordinal);
        var readers = new Dictionary<string, List<NodeProto>>(StringComparer.Ordinal);
        foreach (var node in graph.Node)
            foreach (var input in node.Input.Where(i => i.Length > 0))
                (readers.TryGetValue(input, out var list) ? list : readers[input] = []).Add(node);
        List<NodeProto> Readers(string tensor) => readers.GetValueOrDefault(tensor) ?? [];

        bool IsFloatWeight(string name, int rank) => initializers.TryGetValue(name, out var t)
            && t.DataType == (int)DataType.Float && t.Dims.Count == rank;

        int? WeightAxis(NodeProto node)
        {
            long Attr(string name, long fallback) => node.Attribute.FirstOrDefault(a => a.Name == name)?.I ?? fallback;
            float FAttr(string name) => node.Attribute.FirstOrDefault(a => a.Name == name)?.F ?? 1f;
            if (node.Input.Count < 2 || !string.IsNullOrEmpty(node.Domain))
                return null;
            switch (node.OpType)
            {
                case "Conv" when initializers.TryGetValue(node.Input[1], out var w) && w.DataType == (int)DataType.Float && w.Dims.Count >= 3
                    && (node.Input.Count < 3 || node.Input[2].Length == 0 || IsFloatWeight(node.Input[2], 1)):
                    return 0;
                case "MatMul" when IsFloatWeight(node.Input[1], 2):
                    return 1;
                case "Gemm" when IsFloatWeight(node.Input[1], 2) && Attr("transA", 0) == 0 && FAttr("alpha") == 1f && FAttr("beta") == 1f
                    && (node.Input.Count < 3 || node.Input[2].Length == 0 || IsFloatWeight(node.Input[2], 1)):
                    return Attr("transB", 0) == 1 ? 0 : 1;
                default:
                    return null;
            }
        }

        foreach (var node in graph.Node)
            if (WeightAxis(node) is { } axis)
                plan.Compute[node] = axis;
        var excluded = plan.Compute.Keys.Where(n => exclude is not null && (exclude.Contains(Name(n)) || exclude.Contains(n.Output[0]))).ToList();
        foreach (var head in (floatHead ? Heads(graph, plan.Compute) : []).Concat(excluded))
            {
                plan.Compute.Remove(head);
                plan.KeptFloat.Add(head);
            }

        var quantized = new HashSet<string>(StringComparer.Ordinal);
        foreach (var node in graph.Node)
        {
            if (plan.Compute.ContainsKey(node))
            {
                plan.Add(node.Input[0]);
                quantized.Add(node.Input[0]);
                var output = node.Output[0];
                var outputReaders = Readers(output);
                if (node.OpType == "Conv")
                {
                    // Conv → Relu (its only reader): quantize the Relu's output instead and drop the Relu.
                    if (!graphOutputs.Contains(output) && outputReaders is [{ OpType: "Relu" } relu] && string.IsNullOrEmpty(relu.Domain))
                    {
                        plan.FoldedRelus.Add(relu);
                        output = relu.Output[0];
                    }
                    plan.Add(output);
                    quantized.Add(output);
                }
                else if (outputReaders.Count > 0 && !graphOutputs.Contains(output)
                    && outputReaders.All(r => plan.Compute.ContainsKey(r) && r.Input[0] == output))
                {
                    plan.Add(output);
                    quantized.Add(output);
                }
                continue;
            }
            if (plan.FoldedRelus.Contains(node))
                continue;
            if (Int8DataOps.Contains(node.OpType) && string.IsNullOrEmpty(node.Domain)
                && node.Input.Where(i => i.Length > 0).All(quantized.Contains) && node.Output.Count == 1
                && !graphOutputs.Contains(node.Output[0])
                && Readers(node.Output[0]).Any(r => plan.Compute.ContainsKey(r) || Int8DataOps.Contains(r.OpType)))
            {
                plan.DataNodes.Add(node);
                plan.Add(node.Output[0]);
                quantized.Add(node.Output[0]);
                if (node.OpType == "MaxPool")
                    plan.SharedParameters[node.Output[0]] = node.Input[0];
                continue;
            }
            plan.FloatOperators[node.OpType] = plan.FloatOperators.GetValueOrDefault(node.OpType) + 1;
        }

        // A Concat whose inputs have their own scales requantizes them all to its output's: each value
        // is rounded twice. Quantizing the inputs with the output's parameters rounds once, at the
        // resolution the output has anyway, and the int8 Concat becomes a copy.
        var graphInputs = graph.Input.Select(i => i.Name).ToHashSet(StringComparer.Ordinal);
        foreach (var concat in plan.DataNodes.Where(n => n.OpType == "Concat"))
            foreach (var input in concat.Input.Where(i => i.Length > 0 && !graphInputs.Contains(i)))
                plan.SharedParameters.TryAdd(input, concat.Output[0]);

        foreach (var node in graph.Node.Where(n => n.OpType is "Conv" or "MatMul" or "Gemm" && !plan.Compute.ContainsKey(n) && !plan.KeptFloat.Contains(n)))
            plan.Notes.Add($"{node.OpType} '{Name(node)}' left in float: its weight is not a constant float tensor of the expected shape (or Gemm has alpha/beta/transA)");
        foreach (var type in plan.FloatOperators.Keys.Where(t => !FloatByDesign.Contains(t) && !Int8DataOps.Contains(t) && t is not ("Conv" or "MatMul" or "Gemm")))
            plan.Notes.Add($"{type} ({plan.FloatOperators[type]} node{(plan.FloatOperators[type] == 1 ? "" : "s")}) left in float: not an operator the quantizer handles");
        return plan;
    }

    /// <summary>The int8-capable nodes nearest to each graph output, walking back through the other operators.</summary>
    private static List<NodeProto> Heads(GraphProto graph, Dictionary<NodeProto, int> compute)
    {
        var producers = new Dictionary<string, NodeProto>(StringComparer.Ordinal);
        foreach (var node in graph.Node)
            foreach (var output in node.Output)
                producers[output] = node;
        var heads = new List<NodeProto>();
        var seen = new HashSet<NodeProto>(ReferenceEqualityComparer.Instance);
        var pending = new Stack<string>(graph.Output.Select(o => o.Name));
        while (pending.TryPop(out var tensor))
        {
            if (!producers.TryGetValue(tensor, out var node) || !seen.Add(node))
                continue;
            if (compute.ContainsKey(node))
                heads.Add(node);
            else
                foreach (var input in node.Input.Where(i => i.Length > 0))
                    pending.Push(input);
        }
        return heads;
    }

    internal static string Name(NodeProto node) => node.Name is { Length: > 0 } name ? name : node.Output.FirstOrDefault() ?? node.OpType;

    /// <summary>The tensor whose calibrated range <paramref name="tensor"/> is quantized with.</summary>
    public string ParameterSource(string tensor)
    {
        while (SharedParameters.TryGetValue(tensor, out var source))
            tensor = source;
        return tensor;
    }

    private void Add(string tensor)
    {
        if (_tensorSet.Add(tensor))
            _tensors.Add(tensor);
    }
}
