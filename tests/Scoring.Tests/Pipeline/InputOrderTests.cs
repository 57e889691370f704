using ConvNeXt.Batch.Scoring.Inference;
using ConvNeXt.Batch.Scoring.Pipeline;

namespace ConvNeXt.Batch.Scoring.Tests.Pipeline;

public class InputOrderTests(TinyConvNeXtFixture model) : IClassFixture<TinyConvNeXtFixture>
{
    [Fact]
    public async Task Results_keep_input_order_when_each_image_finishes_before_the_next_is_read()
    {
        Repository.RequireShared();
        var files = Directory.GetFiles(Repository.ImagenetSamples).Order(StringComparer.Ordinal).Take(6).ToList();
        using var classifier = ImageClassifier.Load(Repository.SqueezeNet);
        var pipeline = new ScoringPipeline(classifier, new ScoringPipelineOptions { BatchSize = 1, MaxWait = TimeSpan.Zero, DecodeWorkers = 1 });
        var written = new List<string>();
        using var wrote = new SemaphoreSlim(0);

        // The next input is handed over only once the previous result was taken (or, should it never be, after a while).
        async IAsyncEnumerable<ImageInput> Inputs()
        {
            for (var i = 0; i < files.Count; i++)
            {
                if (i > 0)
                    await wrote.WaitAsync(TimeSpan.FromSeconds(5));
                var file = files[i];
                yield return new ImageInput(Path.GetFileName(file), async c => await File.ReadAllBytesAsync(file, c));
            }
        }

        var finished = 0;
        await foreach (var scored in pipeline.RunInInputOrderAsync(Inputs(), _ => finished++))
        {
            written.Add(scored.Id);
            wrote.Release();
        }

        Assert.Equal(files.Count, finished);
        Assert.Equal(files.Select(Path.GetFileName), written);
    }

    [Fact]
    public async Task Results_finishing_out_of_order_come_out_in_input_order()
    {
        Repository.RequireShared();
        var files = Directory.GetFiles(Repository.ImagenetSamples).Order(StringComparer.Ordinal).Take(40).ToList();
        using var classifier = ImageClassifier.Load(model.ModelPath, new InferenceOptions { IntraOpThreads = 1 });
        var pipeline = new ScoringPipeline(classifier, new ScoringPipelineOptions { BatchSize = 4, MaxWait = TimeSpan.FromMilliseconds(5), DecodeWorkers = 2, ReadConcurrency = 8 });
        var completion = new List<string>();
        var inputs = files.Select((file, i) => new ImageInput($"{i:D3}", async c =>
        {
            // Early inputs read slowest, so they finish after later ones.
            await Task.Delay((files.Count - i) % 5 * 10, c);
            return await File.ReadAllBytesAsync(file, c);
        })).ToAsyncEnumerable();

        var ordered = new List<string>();
        await foreach (var scored in pipeline.RunInInputOrderAsync(inputs, s => completion.Add(s.Id)))
            ordered.Add(scored.Id);

        Assert.Equal(Enumerable.Range(0, files.Count).Select(i => $"{i:D3}"), ordered);
        Assert.Equal(files.Count, completion.Count);
        Assert.NotEqual(ordered, completion); // they did finish out of order: the test tests something
    }
}
