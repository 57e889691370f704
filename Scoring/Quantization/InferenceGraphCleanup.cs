using ConvNeXt.Batch.Scoring.Onnx.Proto;

namespace ConvNeXt.Batch.Scoring.Quantization;

/// <summary>
/// Removes Dropout and Identity nodes, and initializers listed as graph inputs (no-ops at inference), so that a tensor between two int8
/// operators needs one QuantizeLinear/DequantizeLinear pair, not two around a no-op.
/// </summary>
internal static class InferenceGraphCleanup
{
    public static int Apply(GraphProto graph)
    {
        var outputs = graph.Output.Select(o => o.Name).ToHashSet(StringComparer.Ordinal);
        var consumed = graph.Node.SelectMany(n => n.Input).ToHashSet(StringComparer.Ordinal);
        var removed = 0;
        // Older exporters list initializers as graph inputs too; ORT then treats them as overridable and folds nothing.
        var initializers = graph.Initializer.Select(i => i.Name).ToHashSet(StringComparer.Ordinal);
        foreach (var input in graph.Input.Where(i => initializers.Contains(i.Name)).ToList())
            graph.Input.Remove(input);
        foreach (var node in graph.Node.ToList())
        {
            if (node.OpType is not ("Dropout" or "Identity") || node.Input.Count == 0 || node.Output.Count == 0)
                continue;
            // A Dropout whose mask is read, or a no-op that produces a graph output, stays.
            if (node.Output.Skip(1).Any(o => o.Length > 0 && (consumed.Contains(o) || outputs.Contains(o))) || outputs.Contains(node.Output[0]))
                continue;
            var (from, to) = (node.Output[0], node.Input[0]);
            foreach (var other in graph.Node)
                for (var i = 0; i < other.Input.Count; i++)
                    if (other.Input[i] == from)
                        other.Input[i] = to;
            graph.Node.Remove(node);
            removed++;
        }
        return removed;
    }
}
