using System.Numerics;
using ConvNeXt.Batch.Scoring.Onnx.Proto;
using Microsoft.ML.OnnxRuntime;

namespace ConvNeXt.Batch.Scoring.Quantization;

/// <summary>
/// Rounds int8 weights to what their layer's output needs rather than to the nearest step: GPTQ
/// (Frantar et al., "GPTQ: Accurate Post-Training Quantization for Generative Pre-trained
/// Transformers", ICLR 2023, after Optimal Brain Quantization). Each layer's input second moments
/// H = E[x xᵀ] (im2col patches for a convolution) are measured on the calibration images in the float
/// model; the weights are then quantized one input column at a time, and each column's rounding error
/// is pushed onto the columns not yet quantized through the Cholesky factor of H⁻¹, so the errors
/// cancel in the layer's output instead of adding up. Measured on SqueezeNet 1.1: the int8 model's
/// top-1 disagreement with float falls by a third (docs/benchmarks.md); nearest rounding of the same
/// scales is where most of it came from.
/// The float weights are replaced by their rounded values (exact multiples of the per-channel scale),
/// and <see cref="QdqRewriter"/> quantizes them with the returned scales, so its rounding is exact.
/// Grouped convolutions and weights shared by several nodes keep nearest rounding.
/// </summary>
internal static class GptqRounding
{
    // A patch per this many output positions at most, per image: H converges long before every position is seen.
    private const int PositionsPerImage = 256;

    /// <param name="notes">Gets a line for each layer whose input statistics could not be factorised (rounded to nearest instead).</param>
    /// <returns>Per-channel scales of each weight initializer it rounded, by initializer name.</returns>
    public static Dictionary<string, float[]> Apply(ModelProto model, IReadOnlyDictionary<NodeProto, int> compute,
        CalibrationImages images, int height, int width, QuantizationOptions options, ICollection<string> notes)
    {
        var graph = model.Graph;
        var initializers = graph.Initializer.ToDictionary(i => i.Name, StringComparer.Ordinal);
        var weightUses = compute.Keys.GroupBy(n => n.Input[1], StringComparer.Ordinal).ToDictionary(g => g.Key, g => g.Count(), StringComparer.Ordinal);
        var layers = new List<Layer>();
        foreach (var (node, axis) in compute)
        {
            if (weightUses[node.Input[1]] != 1 || !initializers.TryGetValue(node.Input[1], out var weight))
                continue;
            if (Layer.Create(node, axis, weight) is { } layer)
                layers.Add(layer);
        }
        if (layers.Count == 0)
            return [];

        var tensors = layers.Select(l => l.Node.Input[0]).Distinct(StringComparer.Ordinal).ToArray();
        var readers = layers.ToLookup(l => l.Node.Input[0], StringComparer.Ordinal);
        var runs = 0;
        using (var session = new CalibrationSession(model, tensors, GraphOptimizationLevel.ORT_ENABLE_BASIC, options.IntraOpThreads))
            session.Run(images, height, width, (t, values, shape) =>
            {
                foreach (var layer in readers[tensors[t]])
                    layer.Accumulate(values, shape);
            }, _ => options.Progress?.Invoke(++runs, images.Count));

        var scales = new Dictionary<string, float[]>(StringComparer.Ordinal);
        foreach (var layer in layers)
        {
            scales[layer.Weight.Name] = layer.Round();
            if (layer.RoundedToNearest)
                notes.Add($"{layer.Node.OpType} '{QdqPlan.Name(layer.Node)}': its input statistics on the calibration images are not positive definite; weights rounded to nearest, not by GPTQ");
        }
        return scales;
    }

    private sealed class Layer
    {
        private readonly int _rows;
        private readonly int _columns;
        private readonly int _axis;
        private readonly int[] _kernel = [1, 1];
        private readonly int[] _strides = [1, 1];
        private readonly int[] _pads = [0, 0, 0, 0];
        private readonly float[] _h;
        private long _samples;

        public NodeProto Node { get; }
        public TensorProto Weight { get; }

        /// <summary>Set when GPTQ could not run for this layer and <see cref="Round"/> fell back to nearest rounding.</summary>
        public bool RoundedToNearest { get; private set; }

        private Layer(NodeProto node, int axis, TensorProto weight, int rows, int columns)
        {
            (Node, Weight, _axis, _rows, _columns) = (node, weight, axis, rows, columns);
            _h = new float[columns * columns];
        }

        public static Layer? Create(NodeProto node, int axis, TensorProto weight)
        {
            var dims = weight.Dims.ToArray();
            if (node.OpType == "Conv" && dims.Length == 4 && axis == 0)
            {
                var attributes = node.Attribute.ToDictionary(a => a.Name, StringComparer.Ordinal);
                if (attributes.TryGetValue("group", out var group) && group.I != 1
                    || attributes.TryGetValue("dilations", out var dilations) && dilations.Ints.Any(d => d != 1)
                    || attributes.TryGetValue("auto_pad", out var autoPad) && autoPad.S.ToStringUtf8() is not ("" or "NOTSET"))
                    return null;
                var layer = new Layer(node, axis, weight, (int)dims[0], (int)(dims[1] * dims[2] * dims[3]));
                (layer._kernel[0], layer._kernel[1]) = ((int)dims[2], (int)dims[3]);
                if (attributes.TryGetValue("strides", out var strides) && strides.Ints.Count == 2)
                    (layer._strides[0], layer._strides[1]) = ((int)strides.Ints[0], (int)strides.Ints[1]);
                if (attributes.TryGetValue("pads", out var pads) && pads.Ints.Count == 4)
                    for (var i = 0; i < 4; i++)
                        layer._pads[i] = (int)pads.Ints[i];
                return layer;
            }
            // MatMul's [K, N] weight, quantized per output column N: rows N, columns K.
            if (node.OpType == "MatMul" && dims.Length == 2 && axis == 1)
                return new Layer(node, axis, weight, (int)dims[1], (int)dims[0]);
            return null;
        }

        /// <summary>Adds the input's patches (convolution) or rows (MatMul) of one image to H.</summary>
        public void Accumulate(ReadOnlySpan<float> values, ReadOnlySpan<long> shape)
        {
            var patch = new float[_columns];
            if (Node.OpType == "MatMul")
            {
                var count = values.Length / _columns;
                var step = Math.Max(1, count / PositionsPerImage);
                for (var r = 0; r < count; r += step)
                    Add(values.Slice(r * _columns, _columns));
                return;
            }
            var (channels, inH, inW) = ((int)shape[1], (int)shape[2], (int)shape[3]);
            var outH = (inH + _pads[0] + _pads[2] - _kernel[0]) / _strides[0] + 1;
            var outW = (inW + _pads[1] + _pads[3] - _kernel[1]) / _strides[1] + 1;
            var every = Math.Max(1, (int)Math.Ceiling(Math.Sqrt((double)outH * outW / PositionsPerImage)));
            for (var oy = every / 2; oy < outH; oy += every)
                for (var ox = every / 2; ox < outW; ox += every)
                {
                    var k = 0;
                    for (var c = 0; c < channels; c++)
                        for (var ky = 0; ky < _kernel[0]; ky++)
                        {
                            var iy = oy * _strides[0] - _pads[0] + ky;
                            for (var kx = 0; kx < _kernel[1]; kx++, k++)
                            {
                                var ix = ox * _strides[1] - _pads[1] + kx;
                                patch[k] = iy >= 0 && iy < inH && ix >= 0 && ix < inW ? values[(c * inH + iy) * inW + ix] : 0;
                            }
                        }
                    Add(patch);
                }
        }

        private void Add(ReadOnlySpan<float> x)
        {
            var n = _columns;
            for (var i = 0; i < n; i++)
            {
                var xi = x[i];
                if (xi == 0)
                    continue;
                // Upper triangle only (j ≥ i); mirrored in Round.
                var row = _h.AsSpan(i * n + i, n - i);
                var tail = x[i..];
                var v = 0;
                if (Vector.IsHardwareAccelerated)
                    for (; v <= row.Length - Vector<float>.Count; v += Vector<float>.Count)
                        (new Vector<float>(row[v..]) + new Vector<float>(tail[v..]) * xi).CopyTo(row[v..]);
                for (; v < row.Length; v++)
                    row[v] += xi * tail[v];
            }
            _samples++;
        }

        /// <summary>Rounds the weights in place (GPTQ, one column at a time) and returns the per-row scales.</summary>
        public float[] Round()
        {
            var n = _columns;
            var values = QdqRewriter.FloatValues(Weight);
            // Rows × columns, whatever the stored layout.
            var w = new double[_rows * n];
            for (var r = 0; r < _rows; r++)
                for (var c = 0; c < n; c++)
                    w[r * n + c] = _axis == 0 ? values[r * n + c] : values[c * _rows + r];
            var scales = new float[_rows];
            for (var r = 0; r < _rows; r++)
            {
                double max = 0;
                for (var c = 0; c < n; c++)
                    max = Math.Max(max, Math.Abs(w[r * n + c]));
                scales[r] = QuantizationParameters.SymmetricScale((float)max);
            }

            // The paper's "act order": the columns whose inputs carry most energy first, while the most columns are left
            // to take up their error.
            var order = Enumerable.Range(0, n).OrderByDescending(i => _h[i * n + i]).ToArray();
            var h = new double[n * n];
            double meanDiagonal = 0;
            for (var i = 0; i < n; i++)
                for (var j = i; j < n; j++)
                {
                    var (a, b) = (Math.Min(order[i], order[j]), Math.Max(order[i], order[j]));
                    h[i * n + j] = h[j * n + i] = _samples > 0 ? (double)_h[a * n + b] / _samples : 0;
                }
            var permuted = new double[w.Length];
            for (var r = 0; r < _rows; r++)
                for (var c = 0; c < n; c++)
                    permuted[r * n + c] = w[r * n + order[c]];
            w = permuted;
            for (var i = 0; i < n; i++)
                meanDiagonal += h[i * n + i] / n;
            for (var i = 0; i < n; i++)
            {
                if (h[i * n + i] == 0)
                {
                    // An input that is always zero: its weights do nothing; any rounding is exact for the output.
                    h[i * n + i] = 1;
                    for (var r = 0; r < _rows; r++)
                        w[r * n + i] = 0;
                }
                // Dampening, as the paper's 1 % of the mean diagonal, keeps the inverse well conditioned.
                h[i * n + i] += 0.01 * Math.Max(meanDiagonal, 1e-8);
            }
            var u = UpperCholeskyOfInverse(h, n);
            if (u is null)
                return NearestOnly(values, w, scales, order);

            var quantized = new double[_rows * n];
            for (var c = 0; c < n; c++)
            {
                var d = u[c * n + c];
                for (var r = 0; r < _rows; r++)
                {
                    var x = w[r * n + c];
                    var q = QuantizationParameters.WeightLevel(x, scales[r]) * (double)scales[r];
                    quantized[r * n + c] = q;
                    SubtractScaled(w.AsSpan(r * n + c + 1, n - c - 1), u.AsSpan(c * n + c + 1, n - c - 1), (x - q) / d);
                }
            }
            Store(values, quantized, order);
            return scales;
        }

        private float[] NearestOnly(float[] values, double[] w, float[] scales, int[] order)
        {
            RoundedToNearest = true;
            for (var r = 0; r < _rows; r++)
                for (var c = 0; c < _columns; c++)
                    w[r * _columns + c] = QuantizationParameters.WeightLevel(w[r * _columns + c], scales[r]) * (double)scales[r];
            Store(values, w, order);
            return scales;
        }

        /// <summary>Writes rounded rows × columns (columns in <paramref name="order"/>) back in the weight's own layout.</summary>
        private void Store(float[] values, double[] rounded, int[] order)
        {
            var n = _columns;
            for (var r = 0; r < _rows; r++)
                for (var c = 0; c < n; c++)
                    values[_axis == 0 ? r * n + order[c] : order[c] * _rows + r] = (float)rounded[r * n + c];
            QdqRewriter.SetFloatValues(Weight, values);
        }

        /// <summary>U with H⁻¹ = Uᵀ U (upper Cholesky factor of the inverse), or null when H is not positive definite.</summary>
        /// <remarks>
        /// Without forming H⁻¹: with J the order-reversing permutation and J H J = L Lᵀ, H⁻¹ = (J L⁻¹ J)ᵀ (J L⁻¹ J) and
        /// J L⁻¹ J is upper triangular, so one Cholesky factorisation and one triangular inverse give U.
        /// </remarks>
        private static double[]? UpperCholeskyOfInverse(double[] h, int n)
        {
            var reversed = new double[n * n];
            for (var i = 0; i < n; i++)
                for (var j = 0; j < n; j++)
                    reversed[i * n + j] = h[(n - 1 - i) * n + (n - 1 - j)];
            var l = Cholesky(reversed, n);
            if (l is null)
                return null;
            // Row j of inverseT is column j of L⁻¹ (forward substitution of L x = e_j), so every inner loop reads rows.
            var inverseT = reversed;
            Array.Clear(inverseT);
            for (var j = 0; j < n; j++)
            {
                var x = inverseT.AsSpan(j * n, n);
                x[j] = 1 / l[j * n + j];
                for (var i = j + 1; i < n; i++)
                    x[i] = -Dot(l.AsSpan(i * n + j, i - j), x.Slice(j, i - j)) / l[i * n + i];
            }
            var upper = l;
            for (var a = 0; a < n; a++)
                for (var b = 0; b < n; b++)
                    upper[a * n + b] = inverseT[(n - 1 - b) * n + (n - 1 - a)];
            return upper;
        }

        /// <summary>Lower Cholesky factor of a symmetric matrix, or null when it is not positive definite.</summary>
        private static double[]? Cholesky(double[] a, int n)
        {
            var l = new double[n * n];
            for (var i = 0; i < n; i++)
                for (var j = 0; j <= i; j++)
                {
                    var sum = a[i * n + j] - Dot(l.AsSpan(i * n, j), l.AsSpan(j * n, j));
                    if (i == j)
                    {
                        if (!(sum > 0))
                            return null;
                        l[i * n + i] = Math.Sqrt(sum);
                    }
                    else
                        l[i * n + j] = sum / l[j * n + j];
                }
            return l;
        }

        private static double Dot(ReadOnlySpan<double> a, ReadOnlySpan<double> b)
        {
            var sum = Vector<double>.Zero;
            var i = 0;
            for (; i <= a.Length - Vector<double>.Count; i += Vector<double>.Count)
                sum += new Vector<double>(a[i..]) * new Vector<double>(b[i..]);
            var total = Vector.Sum(sum);
            for (; i < a.Length; i++)
                total += a[i] * b[i];
            return total;
        }

        /// <summary>target −= factor × source, element by element.</summary>
        private static void SubtractScaled(Span<double> target, ReadOnlySpan<double> source, double factor)
        {
            var i = 0;
            var f = new Vector<double>(factor);
            for (; i <= target.Length - Vector<double>.Count; i += Vector<double>.Count)
                (new Vector<double>(target[i..]) - f * new Vector<double>(source[i..])).CopyTo(target[i..]);
            for (; i < target.Length; i++)
                target[i] -= factor * source[i];
        }
    }
}
