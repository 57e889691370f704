using ConvNeXt.Batch.Scoring.Inference;
using ConvNeXt.Batch.Scoring.Labels;
using ConvNeXt.Batch.Scoring.Pipeline;
using ConvNeXt.Batch.Scoring.Preprocessing;

namespace ConvNeXt.Batch.Scoring.Tests.Pipeline;

public class PipelineSmokeTests
{
    [Fact]
    public async Task Good_and_bad_inputs_each_yield_one_result_and_only_bad_ones_fail()
    {
        Repository.RequireShared();
        using var classifier = ImageClassifier.Load(Repository.SqueezeNet, preprocessing: PreprocessingSettings.Caffe(),
            labels: ClassLabels.Load(Repository.LabelsFile));
        var pipeline = new ScoringPipeline(classifier, new ScoringPipelineOptions { BatchSize = 4, DecodeWorkers = 2 });
        var files = Directory.GetFiles(Repository.ImagenetSamples).Order(StringComparer.Ordinal).Take(6).ToList();
        var inputs = files.Select(f => ImageInput.FromFile(f, Path.GetFileName(f)) with { State = f }).ToList();
        inputs.Add(ImageInput.FromBytes("empty", ReadOnlyMemory<byte>.Empty));
        inputs.Add(ImageInput.FromBytes("random", new byte[] { 1, 2, 3, 4, 5, 6, 7, 8, 9 }));
        inputs.Add(new ImageInput("unreadable", _ => throw new IOException("disk on fire")));

        var results = await pipeline.ScoreAllAsync(inputs);

        Assert.Equal(inputs.Select(i => i.Id).Order(), results.Select(r => r.Id).Order());
        foreach (var file in files)
        {
            var result = Assert.Single(results, r => r.Id == Path.GetFileName(file));
            Assert.Null(result.Error);
            Assert.Equal(5, result.Top!.Count);
            Assert.Equal(file, result.State);
        }
        Assert.Equal("Empty", results.Single(r => r.Id == "empty").ErrorReason);
        Assert.Equal("Unsupported", results.Single(r => r.Id == "random").ErrorReason);
        var unreadable = results.Single(r => r.Id == "unreadable");
        Assert.Equal("ReadFailed", unreadable.ErrorReason);
        Assert.Contains("disk on fire", unreadable.Error);
        Assert.Equal(6, pipeline.Counters.Scored);
        Assert.Equal(3, pipeline.Counters.Failed);
    }
}
