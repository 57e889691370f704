using System.Buffers.Binary;

namespace ConvNeXt.Batch.Scoring.Tests.Models;

/// <summary>
/// A deliberately plain InceptionNeXt forward pass in float64, written from timm's module
/// definitions (<c>MetaNeXt</c>, <c>InceptionDWConv2d</c>, <c>ConvMlp</c>, <c>MlpClassifierHead</c>)
/// and sharing no code with the product: it reads the safetensors bytes itself, keeps every
/// BatchNorm as a BatchNorm (nothing folded), runs the mixer as the paper's four branches, and
/// convolves with nested loops. It is what "independent" means in the InceptionNeXt tests: a graph
/// that folds, merges or lays out anything wrongly disagrees with it.
/// </summary>
internal sealed class InceptionNeXtReference
{
    private readonly Dictionary<string, (int[] Shape, double[] Data)> _t;

    public InceptionNeXtReference(string safetensorsPath)
    {
        _t = [];
        foreach (var e in SafetensorsWriter.ReadAll(safetensorsPath))
        {
            if (e.DType != "F32") continue; // num_batches_tracked (I64)
            var data = new double[e.Data.Length / 4];
            for (var i = 0; i < data.Length; i++)
                data[i] = BinaryPrimitives.ReadSingleLittleEndian(e.Data.AsSpan(4 * i));
            _t[e.Name] = (e.Shape, data);
        }
    }

    /// <summary>Logits for an NCHW float32 batch.</summary>
    public float[] Forward(int[] shape, float[] input)
    {
        var (n, h, w) = (shape[0], shape[2], shape[3]);
        var per = 3 * h * w;
        var logits = new List<float>();
        for (var b = 0; b < n; b++)
        {
            var x = new Map(3, h, w, input.Skip(b * per).Take(per).Select(v => (double)v).ToArray());
            logits.AddRange(Image(x).Select(v => (float)v));
        }
        return [.. logits];
    }

    private double[] Image(Map x)
    {
        x = BatchNorm(Conv(x, "stem.0", stride: 4, padH: 0, padW: 0, groups: 1), "stem.1");
        for (var s = 0; _t.ContainsKey($"stages.{s}.blocks.0.gamma"); s++)
        {
            if (s > 0)
                x = Conv(BatchNorm(x, $"stages.{s}.downsample.0"), $"stages.{s}.downsample.1", stride: 2, padH: 0, padW: 0, groups: 1);
            for (var j = 0; _t.ContainsKey($"stages.{s}.blocks.{j}.gamma"); j++)
                x = Block(x, $"stages.{s}.blocks.{j}.");
        }
        var pooled = new double[x.C];
        for (var c = 0; c < x.C; c++)
        {
            double sum = 0;
            for (var i = 0; i < x.H * x.W; i++)
                sum += x.Data[c * x.H * x.W + i];
            pooled[c] = sum / (x.H * x.W);
        }
        var hidden = Linear(pooled, "head.fc1").Select(Gelu).ToArray();
        var mean = hidden.Average();
        var variance = hidden.Average(v => (v - mean) * (v - mean));
        var (g, beta) = (_t["head.norm.weight"].Data, _t["head.norm.bias"].Data);
        var normed = hidden.Select((v, i) => (v - mean) / Math.Sqrt(variance + 1e-6) * g[i] + beta[i]).ToArray();
        return Linear(normed, "head.fc2");
    }

    private Map Block(Map x, string p)
    {
        var gc = x.C / 8;
        var id = x.C - 3 * gc;
        var mixed = new Map(x.C, x.H, x.W, new double[x.Data.Length]);
        Array.Copy(x.Data, mixed.Data, id * x.H * x.W);
        var branches = new[] { ("dwconv_hw", 1, 1), ("dwconv_w", 0, 5), ("dwconv_h", 5, 0) };
        for (var b = 0; b < 3; b++)
        {
            var (name, padH, padW) = branches[b];
            var part = x.Channels(id + b * gc, gc);
            var y = Conv(part, p + "token_mixer." + name, stride: 1, padH, padW, groups: gc);
            Array.Copy(y.Data, 0, mixed.Data, (id + b * gc) * x.H * x.W, y.Data.Length);
        }
        var z = BatchNorm(mixed, p + "norm");
        z = Conv(z, p + "mlp.fc1", 1, 0, 0, 1);
        for (var i = 0; i < z.Data.Length; i++)
            z.Data[i] = Gelu(z.Data[i]);
        z = Conv(z, p + "mlp.fc2", 1, 0, 0, 1);
        var gamma = _t[p + "gamma"].Data;
        for (var c = 0; c < z.C; c++)
            for (var i = 0; i < z.H * z.W; i++)
                z.Data[c * z.H * z.W + i] = z.Data[c * z.H * z.W + i] * gamma[c] + x.Data[c * z.H * z.W + i];
        return z;
    }

    private Map Conv(Map x, string name, int stride, int padH, int padW, int groups)
    {
        var (shape, w) = _t[name + ".weight"];
        var bias = _t[name + ".bias"].Data;
        var (outC, inPerGroup, kh, kw) = (shape[0], shape[1], shape[2], shape[3]);
        var oh = (x.H + 2 * padH - kh) / stride + 1;
        var ow = (x.W + 2 * padW - kw) / stride + 1;
        var y = new Map(outC, oh, ow, new double[outC * oh * ow]);
        var outPerGroup = outC / groups;
        Parallel.For(0, outC, o =>
        {
            var group = o / outPerGroup;
            for (var r = 0; r < oh; r++)
                for (var c = 0; c < ow; c++)
                {
                    var sum = bias[o];
                    for (var i = 0; i < inPerGroup; i++)
                    {
                        var ci = group * inPerGroup + i;
                        for (var a = 0; a < kh; a++)
                        {
                            var yy = r * stride - padH + a;
                            if (yy < 0 || yy >= x.H) continue;
                            for (var b = 0; b < kw; b++)
                            {
                                var xx = c * stride - padW + b;
                                if (xx < 0 || xx >= x.W) continue;
                                sum += w[((o * inPerGroup + i) * kh + a) * kw + b] * x.Data[(ci * x.H + yy) * x.W + xx];
                            }
                        }
                    }
                    y.Data[(o * oh + r) * ow + c] = sum;
                }
        });
        return y;
    }

    private Map BatchNorm(Map x, string p)
    {
        var (g, b, m, v) = (_t[p + ".weight"].Data, _t[p + ".bias"].Data, _t[p + ".running_mean"].Data, _t[p + ".running_var"].Data);
        var y = new Map(x.C, x.H, x.W, new double[x.Data.Length]);
        for (var c = 0; c < x.C; c++)
            for (var i = 0; i < x.H * x.W; i++)
                y.Data[c * x.H * x.W + i] = (x.Data[c * x.H * x.W + i] - m[c]) / Math.Sqrt(v[c] + 1e-5) * g[c] + b[c];
        return y;
    }

    private double[] Linear(double[] x, string name)
    {
        var (shape, w) = _t[name + ".weight"];
        var b = _t[name + ".bias"].Data;
        var y = new double[shape[0]];
        for (var o = 0; o < shape[0]; o++)
        {
            var sum = b[o];
            for (var i = 0; i < shape[1]; i++)
                sum += w[o * shape[1] + i] * x[i];
            y[o] = sum;
        }
        return y;
    }

    private static double Gelu(double x) => 0.5 * x * (1 + Erf(x / Math.Sqrt(2)));

    /// <summary>erf by its Maclaurin series (|x| &lt; 5; float64 keeps ~1e-9 there), ±1 beyond (erfc(5) ≈ 1.5e-12).</summary>
    internal static double Erf(double x)
    {
        if (Math.Abs(x) >= 5)
            return Math.Sign(x);
        double sum = 0, term = x;
        for (var n = 0; n < 200; n++)
        {
            sum += term / (2 * n + 1);
            term *= -x * x / (n + 1);
            if (Math.Abs(term) < 1e-17 * Math.Abs(sum)) break;
        }
        return 2 / Math.Sqrt(Math.PI) * sum;
    }

    private sealed record Map(int C, int H, int W, double[] Data)
    {
        public Map Channels(int start, int count) =>
            new(count, H, W, Data.AsSpan(start * H * W, count * H * W).ToArray());
    }
}
