using ConvNeXt.Batch.Scoring.Quantization;

namespace ConvNeXt.Batch.Scoring.Tests.Quantization;

public class ActivationHistogramTests
{
    /// <summary>100,000 values spread evenly over (0, 1], plus a few outliers at 100.</summary>
    private static ActivationHistogram WithOutliers()
    {
        var values = Enumerable.Range(1, 100_000).Select(i => i / 100_000f).Concat(Enumerable.Repeat(100f, 3)).ToArray();
        var histogram = new ActivationHistogram(100f);
        histogram.Add(values);
        return histogram;
    }

    [Fact]
    public void Percentile_clips_the_rare_outliers_and_keeps_the_bulk()
    {
        var threshold = WithOutliers().Percentile(99.99);
        Assert.InRange(threshold, 0.99f, 1.1f);
        Assert.Equal(100f, WithOutliers().Percentile(100));
    }

    [Fact]
    public void Entropy_clips_far_below_the_outliers_but_not_into_the_bulk()
    {
        var threshold = WithOutliers().Entropy(256);
        Assert.InRange(threshold, 0.99f, 20f);
    }

    [Fact]
    public void Mse_clips_a_normal_tail_and_keeps_an_even_spread_whole()
    {
        // |x| of a million normal values reaches about 5σ; the rare values beyond about 4σ cost less clipped than the
        // coarser steps keeping them would cost everything else.
        var random = new Random(7);
        var normal = Enumerable.Range(0, 1_000_000)
            .Select(_ => (float)Math.Abs(Math.Sqrt(-2 * Math.Log(1 - random.NextDouble())) * Math.Cos(2 * Math.PI * random.NextDouble()))).ToArray();
        var tail = new ActivationHistogram(normal.Max());
        tail.Add(normal);
        Assert.InRange(tail.Mse(255), 3f, normal.Max() * 0.95f);
        // Nothing to gain by clipping values spread evenly up to the maximum: the threshold stays near it.
        var even = new ActivationHistogram(1f);
        even.Add(Enumerable.Range(1, 100_000).Select(i => i / 100_000f).ToArray());
        Assert.InRange(even.Mse(255), 0.95f, 1f);
    }

    [Fact]
    public void Exact_zeros_do_not_pull_the_entropy_threshold_down()
    {
        var values = Enumerable.Repeat(0f, 1_000_000).Concat(Enumerable.Range(1, 10_000).Select(i => i / 1_000f)).ToArray();
        var histogram = new ActivationHistogram(10f);
        histogram.Add(values);
        Assert.InRange(histogram.Entropy(256), 9f, 10f);
    }
}
