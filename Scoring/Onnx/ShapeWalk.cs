using ConvNeXt.Batch.Scoring.Onnx.Proto;

namespace ConvNeXt.Batch.Scoring.Onnx;

/// <summary>
/// Follows tensor shapes through a graph for one image of a given size and counts the
/// multiply-accumulates of Conv, MatMul and Gemm. Knows the operators of ConvNeXt graphs and of
/// common CNN classifiers; any other operator makes the count unknown rather than wrong.
/// </summary>
internal static class ShapeWalk
{
    public static long? Macs(GraphProto graph, int imageSize)
    {
        var shapes = new Dictionary<string, long[]>(StringComparer.Ordinal);
        foreach (var init in graph.Initializer)
            shapes[init.Name] = init.Dims.ToArray();
        foreach (var input in graph.Input)
        {
            if (shapes.ContainsKey(input.Name)) continue;
            var dims = input.Type?.TensorType?.Shape?.Dim;
            if (dims is null) return null;
            // Batch 1; symbolic spatial dims take the requested image size.
            shapes[input.Name] = dims.Select((d, i) =>
                d.ValueCase == TensorShapeProto.Types.Dimension.ValueOneofCase.DimValue && d.DimValue > 0 ? d.DimValue
                : i == 0 ? 1L : imageSize).ToArray();
            if (shapes[input.Name].Length > 0) shapes[input.Name][0] = 1;
        }

        var constants = new Dictionary<string, long[]>(StringComparer.Ordinal);
        long macs = 0;
        foreach (var node in graph.Node)
        {
            long[]? In(int i) => i < node.Input.Count && node.Input[i].Length > 0 && shapes.TryGetValue(node.Input[i], out var s) ? s : null;
            AttributeProto? A(string name) => node.Attribute.FirstOrDefault(a => a.Name == name);
            long[]? output;
            switch (node.OpType)
            {
                case "Conv":
                {
                    var (x, w) = (In(0), In(1));
                    if (x is null || w is null || x.Length != 4) return null;
                    var k = A("kernel_shape")?.Ints.ToArray() ?? [w[2], w[3]];
                    var st = A("strides")?.Ints.ToArray() ?? [1, 1];
                    var dl = A("dilations")?.Ints.ToArray() ?? [1, 1];
                    var p = A("pads")?.Ints.ToArray() ?? [0, 0, 0, 0];
                    if (A("auto_pad") is { } ap && ap.S.ToStringUtf8() is not ("NOTSET" or "VALID")) return null;
                    var oh = (x[2] + p[0] + p[2] - dl[0] * (k[0] - 1) - 1) / st[0] + 1;
                    var ow = (x[3] + p[1] + p[3] - dl[1] * (k[1] - 1) - 1) / st[1] + 1;
                    output = [x[0], w[0], oh, ow];
                    macs += x[0] * w[0] * oh * ow * w[1] * k[0] * k[1];
                    break;
                }
                case "MatMul":
                {
                    var (a, b) = (In(0), In(1));
                    if (a is null || b is null || a.Length < 2 || b.Length != 2) return null;
                    output = [.. a[..^1], b[1]];
                    macs += output.Aggregate(1L, (m, d) => m * d) * a[^1];
                    break;
                }
                case "Gemm":
                {
                    var (a, b) = (In(0), In(1));
                    if (a is null || b is null || a.Length != 2 || b.Length != 2) return null;
                    var m = A("transA")?.I == 1 ? a[1] : a[0];
                    var kk = A("transA")?.I == 1 ? a[0] : a[1];
                    var n = A("transB")?.I == 1 ? b[0] : b[1];
                    output = [m, n];
                    macs += m * n * kk;
                    break;
                }
                case "Transpose":
                {
                    var x = In(0);
                    if (x is null) return null;
                    var perm = A("perm")?.Ints.ToArray() ?? Enumerable.Range(0, x.Length).Reverse().Select(i => (long)i).ToArray();
                    output = perm.Select(i => x[i]).ToArray();
                    break;
                }
                case "ReduceMean":
                {
                    var x = In(0);
                    if (x is null || node.Input.Count > 1) return null;
                    var axes = (A("axes")?.Ints.ToArray() ?? []).Select(a => a < 0 ? a + x.Length : a).ToHashSet();
                    var keep = A("keepdims")?.I ?? 1;
                    output = x.Select((d, i) => (d, i)).Where(t => !axes.Contains(t.i) || keep == 1)
                        .Select(t => axes.Contains(t.i) ? 1 : t.d).ToArray();
                    break;
                }
                case "GlobalAveragePool" or "GlobalMaxPool":
                {
                    var x = In(0);
                    if (x is null) return null;
                    output = [x[0], x[1], .. Enumerable.Repeat(1L, x.Length - 2)];
                    break;
                }
                case "MaxPool" or "AveragePool":
                {
                    var x = In(0);
                    var k = A("kernel_shape")?.Ints.ToArray();
                    if (x is null || k is null || x.Length != 4) return null;
                    var st = A("strides")?.Ints.ToArray() ?? [1, 1];
                    var p = A("pads")?.Ints.ToArray() ?? [0, 0, 0, 0];
                    var ceil = A("ceil_mode")?.I == 1;
                    long Out(long size, long pad, int i)
                    {
                        var span = size + pad - k[i];
                        return (ceil ? (span + st[i] - 1) / st[i] : span / st[i]) + 1;
                    }
                    output = [x[0], x[1], Out(x[2], p[0] + p[2], 0), Out(x[3], p[1] + p[3], 1)];
                    break;
                }
                case "Concat":
                {
                    var parts = node.Input.Select(n => shapes.GetValueOrDefault(n)).ToList();
                    if (parts.Any(p => p is null)) return null;
                    var axis = (int)(A("axis")?.I ?? 0);
                    if (axis < 0) axis += parts[0]!.Length;
                    output = (long[])parts[0]!.Clone();
                    output[axis] = parts.Sum(p => p![axis]);
                    break;
                }
                case "Split":
                {
                    // The split sizes are a Constant node's int64 values (opset 13+) or the 'split' attribute.
                    var x = In(0);
                    if (x is null) return null;
                    var axis = (int)(A("axis")?.I ?? 0);
                    if (axis < 0) axis += x.Length;
                    var sizes = node.Input.Count > 1 && constants.TryGetValue(node.Input[1], out var given) ? given
                        : A("split")?.Ints.ToArray();
                    if (sizes is null || sizes.Length != node.Output.Count) return null;
                    for (var i = 0; i < sizes.Length; i++)
                    {
                        var part = (long[])x.Clone();
                        part[axis] = sizes[i];
                        shapes[node.Output[i]] = part;
                    }
                    continue;
                }
                case "Flatten":
                {
                    var x = In(0);
                    if (x is null) return null;
                    var axis = (int)(A("axis")?.I ?? 1);
                    output = [x[..axis].Aggregate(1L, (m, d) => m * d), x[axis..].Aggregate(1L, (m, d) => m * d)];
                    break;
                }
                case "Constant":
                {
                    var t = A("value")?.T;
                    if (t is null) return null;
                    output = t.Dims.ToArray();
                    if (t.Int64Data.Count > 0)
                        constants[node.Output[0]] = t.Int64Data.ToArray();
                    break;
                }
                case "Add" or "Sub" or "Mul" or "Div" or "Pow":
                {
                    var (a, b) = (In(0), In(1));
                    if (a is null || b is null) return null;
                    output = Broadcast(a, b);
                    if (output is null) return null;
                    break;
                }
                case "Relu" or "Sigmoid" or "Tanh" or "Erf" or "Gelu" or "Cast" or "Softmax" or "Dropout" or "Identity"
                    or "LayerNormalization" or "BatchNormalization" or "Clip" or "LeakyRelu" or "HardSigmoid" or "HardSwish" or "Sqrt":
                {
                    var x = In(0);
                    if (x is null) return null;
                    output = x;
                    break;
                }
                default:
                    return null;
            }
            foreach (var o in node.Output.Where(o => o.Length > 0))
                shapes[o] = output;
        }
        return macs;
    }

    private static long[]? Broadcast(long[] a, long[] b)
    {
        var n = Math.Max(a.Length, b.Length);
        var result = new long[n];
        for (var i = 0; i < n; i++)
        {
            var da = i < n - a.Length ? 1 : a[i - (n - a.Length)];
            var db = i < n - b.Length ? 1 : b[i - (n - b.Length)];
            if (da != db && da != 1 && db != 1) return null;
            result[i] = Math.Max(da, db);
        }
        return result;
    }
}
