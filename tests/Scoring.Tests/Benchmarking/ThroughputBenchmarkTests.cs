using ConvNeXt.Batch.Scoring.Benchmarking;
using ConvNeXt.Batch.Scoring.Inference;
using ConvNeXt.Batch.Scoring.Pipeline;
using ConvNeXt.Batch.Scoring.Tests.Pipeline;

namespace ConvNeXt.Batch.Scoring.Tests.Benchmarking;

public sealed class ThroughputBenchmarkTests(TinyConvNeXtFixture model) : IClassFixture<TinyConvNeXtFixture>, IDisposable
{
    private readonly string _folder = Directory.CreateTempSubdirectory("bench-test-").FullName;

    public void Dispose() => Directory.Delete(_folder, recursive: true);

    private static ImageClassifier Load(string path) => ImageClassifier.Load(path, new InferenceOptions { IntraOpThreads = 1 });

    private static ScoringPipelineOptions Pipeline(ImageClassifier classifier, int batch) =>
        new() { BatchSize = batch, DecodeWorkers = 2, MaxWait = TimeSpan.FromMilliseconds(5) };

    /// <summary>Five real photos and one file that is no image (an error row end to end, left out of model-only).</summary>
    private List<string> Files()
    {
        Repository.RequireShared();
        var files = Directory.GetFiles(Repository.ImagenetSamples).Order(StringComparer.Ordinal).Take(5).ToList();
        var broken = Path.Combine(_folder, "broken.jpg");
        File.WriteAllText(broken, "not a jpeg");
        files.Add(broken);
        return files;
    }

    [Fact]
    public async Task Each_model_at_each_batch_size_is_one_result_and_later_models_are_ratios_to_the_first()
    {
        var second = Path.Combine(_folder, "convnext_second.onnx");
        File.Copy(model.ModelPath, second);
        var options = new ThroughputBenchmarkOptions
        {
            Files = Files(),
            Models = [model.ModelPath, second],
            BatchSizes = [2, 4],
            Repeat = 2,
            Warmup = 1,
            Rounds = 2,
            IntraOpThreads = 1,
        };

        var report = await new ThroughputBenchmark(options, Load, Pipeline).RunAsync();

        Assert.Equal(["convnext_test/2", "convnext_second/2", "convnext_test/4", "convnext_second/4"],
            report.Runs.Select(r => $"{r.Model}/{r.BatchSize}"));
        Assert.All(report.Runs, r =>
        {
            Assert.Equal(r.RequestedBatchSize, r.BatchSize);
            Assert.Equal(6, r.Images);
            Assert.Equal(12, r.EndToEndImages); // two passes over six files
            Assert.Equal(2, r.EndToEndErrors); // the broken file, once per pass
            Assert.Equal(1, r.IntraOpThreads);
            Assert.Equal(2, r.DecodeWorkers);
            Assert.True(r.ModelOnlyImgS > 0 && r.EndToEndImgS > 0 && r.PreprocessImgSPerCore > 0);
            Assert.True(r.BatchLatencyMs.P50 > 0 && r.BatchLatencyMs.P50 <= r.BatchLatencyMs.P95 && r.BatchLatencyMs.P95 <= r.BatchLatencyMs.P99);
            Assert.Equal(Math.Round(r.EndToEndImgS / r.ModelOnlyImgS, 3), r.EndToEndVsModelOnly, 2);
        });
        // Timed batches: as many images as the end-to-end pass (12), at least 4, in each of 2 rounds.
        Assert.Equal([12, 12, 8, 8], report.Runs.Select(r => r.ModelOnlyBatches));
        Assert.Equal([("convnext_second", "convnext_test", 2), ("convnext_second", "convnext_test", 4)],
            report.Ratios.Select(r => (r.Model, r.Baseline, r.BatchSize)));
        var atTwo = report.Ratios[0];
        Assert.Equal(Math.Round(report.Runs[1].ModelOnlyImgS / report.Runs[0].ModelOnlyImgS, 3), atTwo.ModelOnly, 2);
        Assert.Empty(report.Profiles);
    }

    [Fact]
    public async Task A_fixed_batch_model_is_measured_at_its_own_batch_with_a_warning()
    {
        var warnings = new List<string>();
        var options = new ThroughputBenchmarkOptions { Files = Files(), Models = [model.ModelPath, Repository.SqueezeNet], BatchSizes = [4], Warmup = 0, Iterations = 3 };

        var report = await new ThroughputBenchmark(options, Load, Pipeline, warnings.Add).RunAsync();

        var run = report.Runs.Single(r => r.Model == "squeezenet1.1-fp16");
        Assert.Equal((1, 4, 3), (run.BatchSize, run.RequestedBatchSize, run.ModelOnlyBatches));
        Assert.Equal("squeezenet1.1-fp16 has a fixed batch size of 1: --batch-size 4 cannot apply, measuring batch 1", Assert.Single(warnings));
        // Paired with the baseline at the batch size asked for, labelled with the batch it ran at.
        var ratio = Assert.Single(report.Ratios);
        Assert.Equal(("squeezenet1.1-fp16", 1), (ratio.Model, ratio.BatchSize));
    }

    [Fact]
    public async Task No_decodable_image_is_an_error_that_names_it()
    {
        var broken = Path.Combine(_folder, "broken.png");
        File.WriteAllText(broken, "not a png");
        var options = new ThroughputBenchmarkOptions { Files = [broken], Models = [model.ModelPath], BatchSizes = [2] };

        var e = await Assert.ThrowsAsync<InvalidDataException>(() => new ThroughputBenchmark(options, Load, Pipeline).RunAsync());
        Assert.Equal("none of the images could be decoded", e.Message);
    }

    [Fact]
    public void Percentiles_interpolate_between_ranks()
    {
        double[] sorted = [1, 2, 3, 4];
        Assert.Equal(2.5, ThroughputBenchmark.Percentile(sorted, 0.5), 9);
        Assert.Equal(3.85, ThroughputBenchmark.Percentile(sorted, 0.95), 9);
        Assert.Equal(4, ThroughputBenchmark.Percentile(sorted, 1));
        Assert.True(double.IsNaN(ThroughputBenchmark.Percentile([], 0.5)));
    }
}
