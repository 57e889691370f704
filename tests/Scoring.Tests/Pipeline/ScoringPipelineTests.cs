using System.Runtime.CompilerServices;
using ConvNeXt.Batch.Scoring.Inference;
using ConvNeXt.Batch.Scoring.Pipeline;
using ConvNeXt.Batch.Scoring.Preprocessing;
using NetVips;

namespace ConvNeXt.Batch.Scoring.Tests.Pipeline;

public class ScoringPipelineTests(TinyConvNeXtFixture model) : IClassFixture<TinyConvNeXtFixture>
{
    internal static byte[][] DistinctJpegs(int count)
    {
        var jpegs = new byte[count][];
        for (var i = 0; i < count; i++)
        {
            using var noise = Image.Gaussnoise(64 + 8 * i, 48 + 4 * i, mean: 60 + 20 * i, sigma: 40, seed: i);
            using var rgb = noise.Bandjoin(noise / 2, noise / 3).Cast(Enums.BandFormat.Uchar).Copy(interpretation: Enums.Interpretation.Srgb);
            jpegs[i] = rgb.WriteToBuffer(".jpg[Q=85]");
        }
        return jpegs;
    }

    [Fact]
    public void Tiny_model_takes_dynamic_batches_and_metadata_preprocessing_and_labels()
    {
        using var classifier = ImageClassifier.Load(model.ModelPath);
        Assert.Null(classifier.FixedBatchSize);
        Assert.Equal(10, classifier.ClassCount);
        Assert.Equal(32, classifier.InputHeight);
        Assert.Equal("convnext_test", classifier.Metadata.Architecture);
        Assert.Equal("n01440764", classifier.Labels![0].Wnid);
        Assert.Empty(classifier.Warnings);

        var preprocessor = new ImagePreprocessor(classifier.Preprocessing);
        var jpegs = DistinctJpegs(5);
        var batch = new float[jpegs.Length * classifier.TensorLength];
        for (var i = 0; i < jpegs.Length; i++)
            preprocessor.Preprocess(jpegs[i], batch.AsSpan(i * classifier.TensorLength, classifier.TensorLength));
        var together = classifier.Predict(batch, jpegs.Length);
        for (var i = 0; i < jpegs.Length; i++)
        {
            var row = together.AsSpan(i * 10, 10).ToArray();
            Assert.Equal(1.0, row.Sum(), 1e-4); // logits went through softmax
            var alone = classifier.Predict(batch.AsSpan(i * classifier.TensorLength, classifier.TensorLength), 1);
            Assert.Equal(alone, row, (a, b) => Math.Abs(a - b) < 1e-5f);
        }
    }

    [Fact]
    public async Task Rejected_images_leave_the_batch_and_the_rest_score_as_alone()
    {
        using var classifier = ImageClassifier.Load(model.ModelPath, new InferenceOptions { IntraOpThreads = 1 });
        var jpegs = DistinctJpegs(4);
        var pipeline = new ScoringPipeline(classifier, new ScoringPipelineOptions { BatchSize = 8, MaxWait = TimeSpan.FromSeconds(5) });
        // Bad inputs between good ones: good tensors must be moved down, not read from the wrong slot.
        var inputs = new List<ImageInput>();
        for (var i = 0; i < jpegs.Length; i++)
        {
            inputs.Add(ImageInput.FromBytes($"bad-{i}", new byte[] { 0xFF, 0xD8, 0xFF, (byte)i }));
            inputs.Add(ImageInput.FromBytes($"good-{i}", jpegs[i]));
        }
        var results = (await pipeline.ScoreAllAsync(inputs)).ToDictionary(r => r.Id);

        var preprocessor = new ImagePreprocessor(classifier.Preprocessing);
        var tensor = new float[classifier.TensorLength];
        for (var i = 0; i < jpegs.Length; i++)
        {
            Assert.NotNull(results[$"bad-{i}"].Error);
            var good = results[$"good-{i}"];
            Assert.Null(good.Error);
            Assert.Equal(jpegs.Length, good.BatchSize); // only the decoded images ran
            preprocessor.Preprocess(jpegs[i], tensor);
            var alone = classifier.TopK(classifier.Predict(tensor, 1), 5);
            Assert.Equal(alone.Select(c => c.Index), good.Top!.Select(c => c.Index));
            Assert.Equal(alone[0].Probability, good.Top![0].Probability, 1e-5f);
        }
    }

    [Fact]
    public async Task A_partial_batch_closes_after_max_wait_without_more_input()
    {
        using var classifier = ImageClassifier.Load(model.ModelPath, new InferenceOptions { IntraOpThreads = 1 });
        // MaxWait well above one decode even on a loaded machine, so all three early images make the batch
        // before it closes; only the wait (not a full batch, not the end of input) can release it.
        var pipeline = new ScoringPipeline(classifier, new ScoringPipelineOptions { BatchSize = 64, MaxWait = TimeSpan.FromMilliseconds(1500) });
        var jpeg = DistinctJpegs(1)[0];
        var firstThreeScored = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);

        async IAsyncEnumerable<ImageInput> Inputs()
        {
            for (var i = 0; i < 3; i++)
                yield return ImageInput.FromBytes($"early-{i}", jpeg);
            // The source stalls until the first three results are out: only MaxWait can release them.
            await firstThreeScored.Task.WaitAsync(TimeSpan.FromSeconds(20));
            yield return ImageInput.FromBytes("late", jpeg);
        }

        var results = new List<ScoredImage>();
        await foreach (var result in pipeline.RunAsync(Inputs()))
        {
            results.Add(result);
            if (results.Count == 3)
                firstThreeScored.SetResult();
        }
        Assert.Equal(["early-0", "early-1", "early-2", "late"], results.Select(r => r.Id).Order());
        Assert.All(results.Take(3), r => Assert.Equal(3, r.BatchSize));
        Assert.All(results, r => Assert.Null(r.Error));
    }

    [Fact]
    public async Task Cancellation_stops_the_run_promptly()
    {
        using var classifier = ImageClassifier.Load(model.ModelPath, new InferenceOptions { IntraOpThreads = 1 });
        var pipeline = new ScoringPipeline(classifier, new ScoringPipelineOptions { BatchSize = 8 });
        var jpeg = DistinctJpegs(1)[0];

        async IAsyncEnumerable<ImageInput> Endless()
        {
            for (var i = 0; ; i++)
            {
                yield return ImageInput.FromBytes($"img-{i}", jpeg);
                if (i % 100 == 0)
                    await Task.Yield();
            }
        }

        using var cts = new CancellationTokenSource();
        var received = 0;
        var run = Task.Run(async () =>
        {
            await foreach (var _ in pipeline.RunAsync(Endless(), cts.Token))
                if (++received == 50)
                    await cts.CancelAsync();
        });
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => run.WaitAsync(TimeSpan.FromSeconds(30)));
        Assert.True(received >= 50);
    }

    [Fact]
    public async Task Consumer_stopping_early_ends_the_workers()
    {
        using var classifier = ImageClassifier.Load(model.ModelPath, new InferenceOptions { IntraOpThreads = 1 });
        var pipeline = new ScoringPipeline(classifier, new ScoringPipelineOptions { BatchSize = 4 });
        var jpeg = DistinctJpegs(1)[0];
        var inputs = Enumerable.Range(0, 500).Select(i => ImageInput.FromBytes($"img-{i}", jpeg)).ToAsyncEnumerable();
        var taken = 0;
        await foreach (var _ in pipeline.RunAsync(inputs).WithCancellation(CancellationToken.None))
            if (++taken == 10)
                break;
        var readAfterBreak = pipeline.Counters.Read;
        await Task.Delay(200);
        Assert.Equal(readAfterBreak, pipeline.Counters.Read); // nothing keeps reading after the enumerator is disposed
        Assert.True(readAfterBreak < 500);
    }
}

/// <summary>Measures process-wide managed memory, so it runs alone (after the parallel tests).</summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class MemorySensitiveCollection
{
    public const string Name = "memory-sensitive";
}

[Collection(MemorySensitiveCollection.Name)]
public class ScoringPipelineMemoryTests(TinyConvNeXtFixture model) : IClassFixture<TinyConvNeXtFixture>
{
    private static byte[][] DistinctJpegs(int count) => ScoringPipelineTests.DistinctJpegs(count);

    [Fact]
    public async Task Streams_ten_thousand_images_each_once_with_bounded_memory()
    {
        const int total = 10_000;
        using var classifier = ImageClassifier.Load(model.ModelPath, new InferenceOptions { IntraOpThreads = 1 });
        var pipeline = new ScoringPipeline(classifier, new ScoringPipelineOptions { BatchSize = 32, TopK = 3, Capacity = 64 });
        var jpegs = DistinctJpegs(6);
        var garbage = new byte[700];
        new Random(5).NextBytes(garbage);

        // Each read hands out a fresh copy, as a download would: holding on to inputs would show up as memory.
        async IAsyncEnumerable<ImageInput> Inputs([EnumeratorCancellation] CancellationToken ct = default)
        {
            for (var i = 0; i < total; i++)
            {
                var bad = i % 100 == 99;
                var source = bad ? garbage : jpegs[i % jpegs.Length];
                yield return new ImageInput($"img-{i:D5}", _ => ValueTask.FromResult<ReadOnlyMemory<byte>>(source.ToArray())) { State = bad };
                if (i % 1000 == 0)
                    await Task.Yield();
            }
        }

        var baseline = GC.GetTotalMemory(forceFullCollection: true);
        long peak = 0;
        var seen = new HashSet<string>(StringComparer.Ordinal);
        var errors = new List<string>();
        var count = 0;
        await foreach (var result in pipeline.RunAsync(Inputs(), CancellationToken.None))
        {
            Assert.True(seen.Add(result.Id), $"{result.Id} came out twice");
            if ((bool)result.State!)
            {
                Assert.Equal("Unsupported", result.ErrorReason);
                errors.Add(result.Id);
            }
            else
            {
                Assert.Null(result.Error);
                Assert.Equal(3, result.Top!.Count);
            }
            if (++count % 1000 == 0)
                peak = Math.Max(peak, GC.GetTotalMemory(forceFullCollection: true) - baseline);
        }

        Assert.Equal(total, seen.Count);
        Assert.Equal(total / 100, errors.Count);
        Assert.Equal(total - total / 100, pipeline.Counters.Scored);
        // Live managed memory stays within the queues' worth (pooled batch tensors are 3 × 32 × 3×32×32 floats,
        // ≈1.2 MB; 2 × 64 queued items) — all 10,000 inputs' bytes (≈ 10–40 MB) must never be held at once.
        Assert.True(peak < 8 * 1024 * 1024, $"live managed memory grew by {peak / 1024} KiB");
        Console.WriteLine($"10,000 images: {pipeline.Counters.Batches} batches, peak live growth {peak / 1024} KiB");
    }
}
