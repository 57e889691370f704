using ConvNeXt.Batch.Scoring.Onnx.Proto;
using DataType = ConvNeXt.Batch.Scoring.Onnx.Proto.TensorProto.Types.DataType;

namespace ConvNeXt.Batch.Scoring.Quantization;

/// <summary>
/// Per-channel QuantizeLinear/DequantizeLinear (the <c>axis</c> attribute) needs opset 13. Older
/// models (the SqueezeNet 1.1 file here is opset 7) are moved to 13, rewriting the operators whose meaning
/// changed on the way; a model with another such operator is refused rather than changed silently.
/// </summary>
internal static class OpsetUpgrade
{
    public const long Required = 13;

    private static readonly HashSet<string> Changed = new(StringComparer.Ordinal)
    {
        "Clip", "Pad", "Slice", "Upsample", "Resize", "TopK", "Split", "ReduceSum", "Scan", "Loop", "If",
    };

    /// <summary>Returns the model's opset before the upgrade.</summary>
    /// <exception cref="InvalidDataException">The graph uses an operator whose semantics changed before opset 13.</exception>
    public static long Apply(ModelProto model)
    {
        var entry = model.OpsetImport.FirstOrDefault(o => string.IsNullOrEmpty(o.Domain) || o.Domain == "ai.onnx");
        var opset = entry?.Version ?? 1;
        if (opset >= Required)
            return opset;
        if (model.Graph.Node.FirstOrDefault(n => Changed.Contains(n.OpType) && string.IsNullOrEmpty(n.Domain)) is { } node)
            throw new InvalidDataException($"the model is opset {opset} and uses {node.OpType}, whose definition changed before opset {Required}; convert it to opset {Required} or later first");
        var graph = model.Graph;
        var rewritten = new List<NodeProto>();
        foreach (var n in graph.Node)
        {
            switch (n.OpType)
            {
                case "Softmax" or "LogSoftmax" or "Hardmax" when string.IsNullOrEmpty(n.Domain):
                    rewritten.AddRange(FlattenedSoftmax(n));
                    break;
                case "Squeeze" or "Unsqueeze" when n.Attribute.FirstOrDefault(a => a.Name == "axes") is { } axes:
                {
                    // Opset 13 takes the axes as an input instead of an attribute.
                    var constant = Int64Constant(n.Name + "_axes", axes.Ints.ToArray());
                    rewritten.Add(constant);
                    n.Attribute.Remove(axes);
                    n.Input.Add(constant.Output[0]);
                    rewritten.Add(n);
                    break;
                }
                default:
                    rewritten.Add(n);
                    break;
            }
        }
        graph.Node.Clear();
        graph.Node.AddRange(rewritten);
        if (entry is null)
            model.OpsetImport.Add(new OperatorSetIdProto { Domain = "", Version = Required });
        else
            entry.Version = Required;
        if (model.IrVersion < 7)
            model.IrVersion = 7;
        return opset;
    }

    /// <summary>
    /// Before opset 13 the softmax family flattened its input to 2-D at <c>axis</c> (default 1) and
    /// normalised over everything after it; from 13 it normalises one axis (default −1). Flatten,
    /// normalise the last axis, and reshape back keeps the old meaning for any input shape.
    /// </summary>
    private static IEnumerable<NodeProto> FlattenedSoftmax(NodeProto node)
    {
        var axis = node.Attribute.FirstOrDefault(a => a.Name == "axis")?.I ?? 1;
        var (input, output, name) = (node.Input[0], node.Output[0], node.Name is { Length: > 0 } s ? s : node.Output[0]);
        var shape = new NodeProto { OpType = "Shape", Name = name + "_shape", Input = { input }, Output = { name + "_shape" } };
        var flatten = new NodeProto
        {
            OpType = "Flatten", Name = name + "_flatten", Input = { input }, Output = { name + "_flat" },
            Attribute = { new AttributeProto { Name = "axis", Type = AttributeProto.Types.AttributeType.Int, I = axis } },
        };
        var softmax = new NodeProto
        {
            OpType = node.OpType, Name = name, Input = { name + "_flat" }, Output = { name + "_flat_out" },
            Attribute = { new AttributeProto { Name = "axis", Type = AttributeProto.Types.AttributeType.Int, I = -1 } },
        };
        var reshape = new NodeProto { OpType = "Reshape", Name = name + "_reshape", Input = { name + "_flat_out", name + "_shape" }, Output = { output } };
        return [shape, flatten, softmax, reshape];
    }

    private static NodeProto Int64Constant(string name, long[] values)
    {
        var tensor = new TensorProto { DataType = (int)DataType.Int64 };
        tensor.Dims.Add(values.Length);
        tensor.Int64Data.AddRange(values);
        return new NodeProto
        {
            OpType = "Constant", Name = name, Output = { name },
            Attribute = { new AttributeProto { Name = "value", Type = AttributeProto.Types.AttributeType.Tensor, T = tensor } },
        };
    }
}
