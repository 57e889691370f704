using ConvNeXt.Batch.Scoring.Evaluation;
using ConvNeXt.Batch.Scoring.Inference;
using ConvNeXt.Batch.Scoring.Labels;
using ConvNeXt.Batch.Scoring.Pipeline;
using ConvNeXt.Batch.Scoring.Preprocessing;

namespace ConvNeXt.Batch.Scoring.Tests.Evaluation;

/// <summary>Scores the 1000 ImageNet samples once with SqueezeNet through the whole pipeline; several tests read the outcome.</summary>
public sealed class SqueezeNetParityFixture : IAsyncLifetime
{
    public ClassLabels Labels { get; private set; } = null!;
    public ImageClassifier Classifier { get; private set; } = null!;
    public LabelledDataset Dataset { get; private set; } = null!;
    public AccuracyCounts Counts { get; private set; } = null!;
    public List<ScoredImage> Results { get; } = [];
    public PipelineCounters PipelineCounters { get; private set; } = null!;
    public TimeSpan Elapsed { get; private set; }

    public async Task InitializeAsync()
    {
        Repository.RequireShared();
        Labels = ClassLabels.Load(Repository.LabelsFile);
        Classifier = ImageClassifier.Load(Repository.SqueezeNet, new InferenceOptions { IntraOpThreads = 1 },
            PreprocessingSettings.Caffe(), Labels);
        Dataset = LabelledDataset.Open(Repository.ImagenetSamples, Labels);
        var pipeline = new ScoringPipeline(Classifier, new ScoringPipelineOptions { BatchSize = 8 });
        var started = DateTime.UtcNow;
        Counts = await pipeline.EvaluateAsync(Dataset, Results.Add);
        Elapsed = DateTime.UtcNow - started;
        PipelineCounters = pipeline.Counters;
    }

    public Task DisposeAsync()
    {
        Classifier?.Dispose();
        return Task.CompletedTask;
    }
}

public class SqueezeNetParityTests(SqueezeNetParityFixture run) : IClassFixture<SqueezeNetParityFixture>
{
    [Fact]
    public void Samples_are_read_by_wnid_prefix_as_the_1000_classes_in_order()
    {
        Assert.Equal(DatasetLayout.WnidPrefixed, run.Dataset.Layout);
        Assert.Equal(1000, run.Dataset.Images.Count);
        Assert.Empty(run.Dataset.Unlabelled);
        Assert.Equal(Enumerable.Range(0, 1000), run.Dataset.Images.Select(i => i.Label).Order());
        Assert.Contains(run.Dataset.Images, i => i.Id.Contains('\'') );
        Assert.Contains(run.Dataset.Images, i => i.Id.Contains('-'));
    }

    [Fact]
    public void Accuracy_matches_the_independent_reference_within_one_and_a_half_points()
    {
        // data/README.md: PIL resize + crop with ONNX Runtime gives 61.0 % / 83.3 %.
        Assert.Equal(1000, run.Counts.Images);
        Assert.Equal(0, run.Counts.Errors);
        Assert.InRange(run.Counts.Top1 * 100, 61.0 - 1.5, 61.0 + 1.5);
        Assert.InRange(run.Counts.Top5 * 100, 83.3 - 1.5, 83.3 + 1.5);
        Console.WriteLine($"SqueezeNet on imagenet-samples: {run.Counts} in {run.Elapsed.TotalSeconds:F1} s");
    }

    [Fact]
    public void Every_input_has_exactly_one_result_with_its_label_and_state()
    {
        Assert.Equal(run.Dataset.Images.Select(i => i.Id).Order(StringComparer.Ordinal), run.Results.Select(r => r.Id).Order(StringComparer.Ordinal));
        Assert.All(run.Results, r =>
        {
            var image = Assert.IsType<LabelledImage>(r.State);
            Assert.Equal(image.Label, r.Label);
            Assert.Equal(5, r.Top!.Count);
            Assert.True(r.Top[0].Probability >= r.Top[4].Probability);
            Assert.InRange(r.BatchSize, 1, 8);
        });
        Assert.Equal(1000, run.PipelineCounters.Scored);
        Assert.True(run.PipelineCounters.Batches >= 125);
    }

    [Fact]
    public void Metrics_are_consistent_with_the_results()
    {
        var perClass = run.Counts.PerClass();
        Assert.Equal(1000, perClass.Count);
        Assert.Equal(run.Counts.Top1Correct, perClass.Sum(c => c.Top1Correct));
        Assert.Equal(run.Counts.Top5Correct, perClass.Sum(c => c.Top5Correct));
        var expectedTop1 = run.Results.Count(r => r.Top![0].Index == r.Label);
        Assert.Equal(expectedTop1, run.Counts.Top1Correct);
        var meanConfidence = run.Results.Average(r => (double)r.Top![0].Probability);
        Assert.Equal(meanConfidence, run.Counts.MeanConfidence, 1e-5);
        var confused = run.Counts.MostConfused(5);
        Assert.NotEmpty(confused);
        Assert.All(confused, c => Assert.NotEqual(c.Actual, c.Predicted));
        Assert.Equal(run.Results.Count(r => r.Label == confused[0].Actual && r.Top![0].Index == confused[0].Predicted), confused[0].Count);
        Assert.True(run.Counts.ImagesPerSecond > 0);
    }

    [Fact]
    public void Chunks_merged_in_any_order_give_identical_totals()
    {
        var random = new Random(1234);
        var shuffled = run.Results.OrderBy(_ => random.Next()).ToList();
        var chunks = shuffled.Chunk(37).Select(chunk =>
        {
            var counts = new AccuracyCounts();
            foreach (var r in chunk)
                counts.Add(r);
            counts.AddElapsed(TimeSpan.FromMilliseconds(chunk.Length * 3.3));
            // Chunk rows travel as JSON (table rows): merge what comes back.
            return AccuracyCounts.FromJson(counts.ToJson());
        }).ToList();

        var forward = AccuracyCounts.Sum(chunks).ToJson();
        var backward = AccuracyCounts.Sum(Enumerable.Reverse(chunks)).ToJson();
        var shuffledOrder = AccuracyCounts.Sum(chunks.OrderBy(_ => random.Next())).ToJson();
        var tree = AccuracyCounts.Sum(chunks.Chunk(5).Select(AccuracyCounts.Sum).Reverse()).ToJson();
        Assert.Equal(forward, backward);
        Assert.Equal(forward, shuffledOrder);
        Assert.Equal(forward, tree);

        var direct = new AccuracyCounts();
        foreach (var r in run.Results)
            direct.Add(r);
        var merged = AccuracyCounts.FromJson(forward);
        Assert.Equal(direct.Top1Correct, merged.Top1Correct);
        Assert.Equal(direct.ConfidenceMicros, merged.ConfidenceMicros);
        Assert.Equal(direct.MostConfused(20), merged.MostConfused(20));
        Assert.Equal(direct.PerClass(), merged.PerClass());
    }
}
