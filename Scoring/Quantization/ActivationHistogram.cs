namespace ConvNeXt.Batch.Scoring.Quantization;

/// <summary>
/// Histogram of |x| for one activation over [0, the largest |x| seen in the first calibration
/// pass], and the clipping thresholds the percentile and entropy methods pick from it (ORT's
/// HistogramCalibrater: 2048 bins; entropy after TensorRT's KL-divergence calibration).
/// </summary>
internal sealed class ActivationHistogram(float maxAbs, int bins = 2048)
{
    private readonly long[] _counts = new long[bins];
    private readonly float _binWidth = maxAbs > 0 ? maxAbs / bins : 1f;

    public float MaxAbs { get; } = maxAbs;

    public void Add(ReadOnlySpan<float> values)
    {
        var scale = 1f / _binWidth;
        var last = _counts.Length - 1;
        foreach (var v in values)
        {
            // Exact zeros (most of a Relu output) are represented exactly by any zero point; counted,
            // they would pull the entropy threshold towards clipping the values that matter.
            if (v == 0)
                continue;
            var bin = (int)(MathF.Abs(v) * scale);
            _counts[bin > last || bin < 0 ? last : bin]++;
        }
    }

    /// <summary>The |x| below which <paramref name="percentile"/> % of the values lie.</summary>
    public float Percentile(double percentile)
    {
        var total = _counts.Sum();
        if (total == 0)
            return MaxAbs;
        var target = total * percentile / 100.0;
        long running = 0;
        for (var i = 0; i < _counts.Length; i++)
        {
            running += _counts[i];
            if (running >= target)
                return Math.Min(MaxAbs, (i + 1) * _binWidth);
        }
        return MaxAbs;
    }

    /// <summary>
    /// The threshold whose clipped distribution, squeezed into <paramref name="levels"/> levels and
    /// spread back, is closest (smallest KL divergence) to the clipped reference.
    /// </summary>
    public float Entropy(int levels)
    {
        var n = _counts.Length;
        if (_counts.Sum() == 0 || n <= levels)
            return MaxAbs;
        var bestDivergence = double.PositiveInfinity;
        var best = n;
        var reference = new double[n];
        var expanded = new double[n];
        // Every fourth candidate is enough: neighbouring thresholds differ by 1/2048 of the range.
        for (var i = levels; i <= n; i += 4)
        {
            for (var j = 0; j < i; j++)
                reference[j] = _counts[j];
            for (var j = i; j < n; j++)
                reference[i - 1] += _counts[j];
            // Q: the clipped bins without the outliers, squeezed into `levels` groups, each group's mass
            // spread evenly over the bins that are non-empty in P (MXNet/TensorRT's formulation), so a
            // threshold that clips much mass differs from P in its last bin.
            for (var q = 0; q < levels; q++)
            {
                var start = q * i / levels;
                var end = (q + 1) * i / levels;
                double mass = 0;
                var nonEmpty = 0;
                for (var j = start; j < end; j++)
                {
                    mass += _counts[j];
                    if (reference[j] > 0) nonEmpty++;
                }
                for (var j = start; j < end; j++)
                    expanded[j] = reference[j] > 0 ? mass / nonEmpty : 0;
            }
            var divergence = KullbackLeibler(reference.AsSpan(0, i), expanded.AsSpan(0, i));
            if (divergence < bestDivergence)
            {
                bestDivergence = divergence;
                best = i;
            }
        }
        return Math.Min(MaxAbs, best * _binWidth);
    }

    /// <summary>
    /// The threshold T with the least expected squared error of quantizing the values with
    /// <paramref name="steps"/> steps of size T / steps inside ±T: step² / 12 for each value inside
    /// (uniform rounding error), (|x| − T)² for each value clipped.
    /// </summary>
    public float Mse(double steps)
    {
        var n = _counts.Length;
        double total = 0, sum = 0, sumSquares = 0;
        for (var j = 0; j < n; j++)
        {
            var centre = (j + 0.5) * _binWidth;
            total += _counts[j];
            sum += _counts[j] * centre;
            sumSquares += _counts[j] * centre * centre;
        }
        if (total == 0)
            return MaxAbs;
        var best = n;
        var bestError = double.PositiveInfinity;
        // Running sums of the bins below the candidate; the clipped tail is the total less them.
        double below = 0, belowSum = 0, belowSquares = 0;
        for (var i = 1; i <= n; i++)
        {
            var centre = (i - 0.5) * _binWidth;
            below += _counts[i - 1];
            belowSum += _counts[i - 1] * centre;
            belowSquares += _counts[i - 1] * centre * centre;
            var threshold = i * _binWidth;
            var step = threshold / steps;
            var (tail, tailSum, tailSquares) = (total - below, sum - belowSum, sumSquares - belowSquares);
            var error = below * step * step / 12 + tailSquares - 2 * threshold * tailSum + threshold * threshold * tail;
            if (error < bestError)
            {
                bestError = error;
                best = i;
            }
        }
        return Math.Min(MaxAbs, best * _binWidth);
    }

    private static double KullbackLeibler(ReadOnlySpan<double> p, ReadOnlySpan<double> q)
    {
        double sumP = 0, sumQ = 0;
        for (var i = 0; i < p.Length; i++)
        {
            sumP += p[i];
            sumQ += q[i];
        }
        if (sumP == 0 || sumQ == 0)
            return double.PositiveInfinity;
        double divergence = 0;
        for (var i = 0; i < p.Length; i++)
        {
            if (p[i] == 0)
                continue;
            var pi = p[i] / sumP;
            // A bin the quantized version leaves empty: a small floor instead of an infinite penalty.
            var qi = q[i] > 0 ? q[i] / sumQ : 1e-9;
            divergence += pi * Math.Log(pi / qi);
        }
        return divergence;
    }
}
