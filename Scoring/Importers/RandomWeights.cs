using ConvNeXt.Batch.Scoring.Models;

namespace ConvNeXt.Batch.Scoring.Importers;

/// <summary>
/// Untrained weights for benchmarks and plumbing tests, initialised as timm does: conv and linear
/// weights from <c>trunc_normal_(std=.02)</c> (a normal with σ = 0.02 truncated at ±2 absolute, i.e.
/// ±100σ, so in effect untruncated), biases 0, norm scales 1 and shifts 0 (BatchNorm running mean 0
/// and variance 1), layer scale 1e-6 (so every block starts close to identity and the logits stay small).
/// </summary>
public static class RandomWeights
{
    public const float InitStd = 0.02f;
    public const float LayerScaleInit = 1e-6f;
    /// <summary>timm's trunc_normal_ bounds a = −2, b = 2 are absolute values, not multiples of σ.</summary>
    public const float TruncationBound = 2f;

    /// <summary>The same seed gives the same weights on every machine (own generator, not System.Random).</summary>
    public static ConvNeXtWeights Create(ConvNeXtSpec spec, int classes = 1000, int seed = 0)
    {
        var rng = new SplitMix64((ulong)(uint)seed * 0x9E3779B97F4A7C15UL + 1);
        var tensors = new Dictionary<string, WeightTensor>(StringComparer.Ordinal);
        foreach (var (name, shape) in ConvNeXtWeights.Layout(spec, classes))
        {
            var data = new float[shape.Aggregate(1, (a, d) => a * d)];
            if (name.EndsWith(".gamma", StringComparison.Ordinal))
                Array.Fill(data, LayerScaleInit);
            else if (IsNorm(name) && name.EndsWith(".weight", StringComparison.Ordinal))
                Array.Fill(data, 1f);
            else if (name.EndsWith(".weight", StringComparison.Ordinal))
                for (var i = 0; i < data.Length; i++)
                    data[i] = rng.NextTruncatedNormal(InitStd, TruncationBound);
            tensors[name] = new WeightTensor(shape, data);
        }
        return new ConvNeXtWeights(spec, classes, tensors, sourceFormat: null, sha256: null, trained: false);
    }

    /// <summary>InceptionNeXt with timm's initialisation (see the class summary); the same seed gives the same weights.</summary>
    public static InceptionNeXtWeights Create(InceptionNeXtSpec spec, int classes = 1000, int seed = 0)
    {
        var rng = new SplitMix64((ulong)(uint)seed * 0x9E3779B97F4A7C15UL + 1);
        var tensors = new Dictionary<string, WeightTensor>(StringComparer.Ordinal);
        foreach (var (name, shape) in InceptionNeXtWeights.Layout(spec, classes))
        {
            var data = new float[shape.Aggregate(1, (a, d) => a * d)];
            var isNorm = name.StartsWith("stem.1.", StringComparison.Ordinal) || name.Contains(".norm.", StringComparison.Ordinal)
                || name.Contains(".downsample.0.", StringComparison.Ordinal);
            if (name.EndsWith(".gamma", StringComparison.Ordinal))
                Array.Fill(data, LayerScaleInit);
            else if (isNorm && (name.EndsWith(".weight", StringComparison.Ordinal) || name.EndsWith(".running_var", StringComparison.Ordinal)))
                Array.Fill(data, 1f);
            else if (!isNorm && name.EndsWith(".weight", StringComparison.Ordinal))
                for (var i = 0; i < data.Length; i++)
                    data[i] = rng.NextTruncatedNormal(InitStd, TruncationBound);
            tensors[name] = new WeightTensor(shape, data);
        }
        return new InceptionNeXtWeights(spec, classes, tensors, sourceFormat: null, sha256: null, trained: false);
    }

    private static bool IsNorm(string name) =>
        name is "stem.1.weight" or "head.norm.weight"
        || name.EndsWith(".norm.weight", StringComparison.Ordinal)
        || name.EndsWith(".downsample.0.weight", StringComparison.Ordinal);

    private struct SplitMix64(ulong state)
    {
        private ulong _state = state;

        private ulong Next()
        {
            var z = _state += 0x9E3779B97F4A7C15UL;
            z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
            z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
            return z ^ (z >> 31);
        }

        private double NextUnit() => ((Next() >> 11) + 0.5) * (1.0 / (1UL << 53));

        /// <summary>N(0, σ²) redrawn outside ±<paramref name="bound"/> (absolute), like torch.nn.init.trunc_normal_(std=σ, a=−bound, b=bound).</summary>
        public float NextTruncatedNormal(float std, float bound)
        {
            while (true)
            {
                // Box–Muller.
                var z = std * Math.Sqrt(-2 * Math.Log(NextUnit())) * Math.Cos(2 * Math.PI * NextUnit());
                if (Math.Abs(z) <= bound)
                    return (float)z;
            }
        }
    }
}
