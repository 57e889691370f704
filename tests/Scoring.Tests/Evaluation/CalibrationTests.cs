using ConvNeXt.Batch.Scoring.Evaluation;
using ConvNeXt.Batch.Scoring.Inference;

namespace ConvNeXt.Batch.Scoring.Tests.Evaluation;

public class CalibrationTests
{
    /// <summary>Seeded predictions: (label, top-5 with a top-1 probability spread over [0, 1]).</summary>
    private static List<(int Label, ClassScore[] Top)> Predictions(int count, int seed)
    {
        var random = new Random(seed);
        var list = new List<(int, ClassScore[])>();
        for (var i = 0; i < count; i++)
        {
            var label = random.Next(20);
            var p = (float)random.NextDouble();
            var predicted = random.NextDouble() < p ? label : (label + 1 + random.Next(19)) % 20; // right about p of the time
            var top = new[] { new ClassScore(predicted, null, null, p) }
                .Concat(Enumerable.Range(0, 4).Select(k => new ClassScore((predicted + 1 + k) % 20, null, null, (1 - p) / 5))).ToArray();
            list.Add((label, top));
        }
        return list;
    }

    /// <summary>The textbook ECE over the pooled images, with confidences rounded to millionths as the counts keep them.</summary>
    private static double DirectEce(IReadOnlyList<(int Label, ClassScore[] Top)> predictions)
    {
        var bins = Enumerable.Range(0, 15).Select(_ => new List<(double Confidence, bool Correct)>()).ToArray();
        foreach (var (label, top) in predictions)
        {
            var confidence = Math.Round(top[0].Probability * 1e6) / 1e6;
            bins[Math.Min(14, (int)Math.Floor(confidence * 15))].Add((confidence, top[0].Index == label));
        }
        return bins.Where(b => b.Count > 0)
            .Sum(b => (double)b.Count / predictions.Count * Math.Abs(b.Average(x => x.Correct ? 1.0 : 0.0) - b.Average(x => x.Confidence)));
    }

    [Fact]
    public void Ece_from_integer_bins_equals_the_pooled_formula_and_does_not_depend_on_chunking()
    {
        var predictions = Predictions(2_000, seed: 7);
        var whole = new AccuracyCounts();
        foreach (var (label, top) in predictions)
            whole.Add(label, top);
        var chunks = predictions.Chunk(137).Select(chunk =>
        {
            var counts = new AccuracyCounts();
            foreach (var (label, top) in chunk)
                counts.Add(label, top);
            return AccuracyCounts.FromJson(counts.ToJson()); // through the ValidationChunks row text
        }).ToList();
        var forward = AccuracyCounts.Sum(chunks);
        var shuffled = AccuracyCounts.Sum(chunks.OrderBy(_ => Guid.NewGuid()));

        Assert.NotNull(whole.ExpectedCalibrationError);
        Assert.Equal(DirectEce(predictions), whole.ExpectedCalibrationError!.Value, 12);
        Assert.Equal(whole.ToJson(), forward.ToJson());
        Assert.Equal(whole.ToJson(), shuffled.ToJson());
        Assert.Equal(whole.ExpectedCalibrationError, shuffled.ExpectedCalibrationError); // bit-identical, not just close
        var bins = whole.CalibrationBins();
        Assert.Equal(15, bins.Count);
        Assert.Equal(whole.Images, bins.Sum(b => b.Images));
        Assert.Equal(whole.Top1Correct, bins.Sum(b => b.Correct));
        Assert.Equal(whole.ConfidenceMicros, bins.Sum(b => b.ConfidenceMicros));
        Assert.Contains("\"calibration\":[[", whole.ToJson());
    }

    [Fact]
    public void A_perfectly_calibrated_bin_has_no_error_and_an_overconfident_one_shows_its_gap()
    {
        var counts = new AccuracyCounts();
        // 10 images at p = 0.95, 5 right: accuracy 0.5 vs confidence 0.95 → gap 0.45.
        for (var i = 0; i < 10; i++)
            counts.Add(1, [new ClassScore(i < 5 ? 1 : 2, null, null, 0.95f)]);
        Assert.Equal(0.45, counts.ExpectedCalibrationError!.Value, 6);
        var bin = counts.CalibrationBins().Single(b => b.Images > 0);
        Assert.Equal(14, bin.Index);
        Assert.Equal(0.5, bin.Accuracy);

        var calibrated = new AccuracyCounts();
        for (var i = 0; i < 10; i++)
            calibrated.Add(1, [new ClassScore(i < 5 ? 1 : 2, null, null, 0.5f)]);
        Assert.Equal(0, calibrated.ExpectedCalibrationError!.Value, 12);
    }

    [Fact]
    public void Counts_written_before_calibration_bins_report_no_ece()
    {
        var old = AccuracyCounts.FromJson("""{"images":3,"errors":0,"top1_correct":2,"top5_correct":3,"confidence_micros":2000000,"elapsed_microseconds":0,"per_class":[],"confusions":[]}""");
        Assert.Null(old.ExpectedCalibrationError);
        Assert.Throws<FormatException>(() => AccuracyCounts.FromJson("""{"images":1,"calibration":[[15,1,1,1]]}"""));
    }

    [Theory]
    // Reference values from the closed form (e.g. Newcombe 1998, table I: 81/263 → 0.2553–0.3662).
    [InlineData(81, 263, 0.2553, 0.3662)]
    [InlineData(15, 148, 0.0624, 0.1605)]
    [InlineData(0, 20, 0.0, 0.1611)]
    [InlineData(29, 29, 0.8830, 1.0)]
    public void Wilson_interval_matches_published_values(long successes, long trials, double lower, double upper)
    {
        var interval = ProportionInterval.Wilson(successes, trials);
        Assert.Equal(lower, interval.Lower, 4);
        Assert.Equal(upper, interval.Upper, 4);
        Assert.Equal((double)successes / trials, interval.Estimate, 12);
    }

    [Fact]
    public void Wilson_interval_narrows_with_more_images()
    {
        var small = ProportionInterval.Wilson(80, 100);
        var large = ProportionInterval.Wilson(40_000, 50_000);
        Assert.True(small.Upper - small.Lower > 0.15);
        Assert.True(large.Upper - large.Lower < 0.008);
        Assert.True(small.Contains(0.8191) && !large.Contains(0.8191));
    }
}
