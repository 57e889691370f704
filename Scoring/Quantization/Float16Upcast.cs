using System.Runtime.InteropServices;
using ConvNeXt.Batch.Scoring.Onnx.Proto;
using Google.Protobuf;
using DataType = ConvNeXt.Batch.Scoring.Onnx.Proto.TensorProto.Types.DataType;

namespace ConvNeXt.Batch.Scoring.Quantization;

/// <summary>
/// Rewrites a float16 graph as float32 (initializers, Constant nodes, Casts, inputs and outputs):
/// int8 scales are computed against float32 activations, and ONNX Runtime's QDQ fusions expect
/// float32 around the int8 kernels.
/// </summary>
internal static class Float16Upcast
{
    /// <summary>Returns whether anything was float16.</summary>
    public static bool Apply(ModelProto model)
    {
        var graph = model.Graph;
        var changed = false;
        foreach (var tensor in graph.Initializer)
            changed |= Upcast(tensor);
        foreach (var value in graph.Input.Concat(graph.Output).Concat(graph.ValueInfo))
            if (value.Type?.TensorType is { ElemType: (int)DataType.Float16 } t)
            {
                t.ElemType = (int)DataType.Float;
                changed = true;
            }
        foreach (var node in graph.Node)
            foreach (var attribute in node.Attribute)
            {
                if (attribute.T is { } t)
                    changed |= Upcast(t);
                if (node.OpType == "Cast" && attribute.Name == "to" && attribute.I == (long)DataType.Float16)
                {
                    attribute.I = (long)DataType.Float;
                    changed = true;
                }
            }
        return changed;
    }

    private static bool Upcast(TensorProto tensor)
    {
        if (tensor.DataType != (int)DataType.Float16)
            return false;
        float[] values;
        if (!tensor.RawData.IsEmpty)
        {
            var halves = MemoryMarshal.Cast<byte, Half>(tensor.RawData.Span);
            values = new float[halves.Length];
            for (var i = 0; i < halves.Length; i++)
                values[i] = (float)halves[i];
        }
        else
        {
            // Without raw_data, float16 bits are stored one per int32_data entry.
            values = tensor.Int32Data.Select(bits => (float)BitConverter.UInt16BitsToHalf((ushort)bits)).ToArray();
            tensor.Int32Data.Clear();
        }
        tensor.DataType = (int)DataType.Float;
        tensor.RawData = ByteString.CopyFrom(MemoryMarshal.AsBytes(values.AsSpan()));
        return true;
    }
}
