using ConvNeXt.Batch.Scoring.Importers;
using ConvNeXt.Batch.Scoring.Models;
using ConvNeXt.Batch.Scoring.Onnx;

namespace ConvNeXt.Batch.Scoring.Tests.Models;

public class RandomWeightsTests
{
    private static readonly ConvNeXtSpec Atto = ConvNeXtSpec.Find("atto");

    [Fact]
    public void Same_seed_gives_identical_weights_and_other_seeds_differ()
    {
        var a = RandomWeights.Create(Atto, 1000, seed: 42);
        var b = RandomWeights.Create(Atto, 1000, seed: 42);
        var c = RandomWeights.Create(Atto, 1000, seed: 43);

        foreach (var (name, tensor) in a.Tensors)
            Assert.Equal(tensor.Data, b[name].Data);
        Assert.NotEqual(a["stem.0.weight"].Data, c["stem.0.weight"].Data);
        Assert.Equal(ConvNeXtOnnxBuilder.Build(a), ConvNeXtOnnxBuilder.Build(b));
    }

    [Fact]
    public void Initialisation_follows_timm()
    {
        var w = RandomWeights.Create(Atto, 1000, seed: 1);
        var fc1 = w["stages.2.blocks.3.mlp.fc1.weight"].Data;
        var mean = fc1.Average();
        var std = Math.Sqrt(fc1.Average(v => (v - mean) * (v - mean)));
        Assert.InRange(std, 0.015, 0.02); // σ 0.02 truncated at ±2σ gives ≈ 0.0176
        Assert.All(fc1, v => Assert.InRange(v, -0.04f, 0.04f));
        Assert.All(w["stages.2.blocks.3.norm.weight"].Data, v => Assert.Equal(1f, v));
        Assert.All(w["stages.2.blocks.3.mlp.fc1.bias"].Data, v => Assert.Equal(0f, v));
        Assert.All(w["stages.2.blocks.3.gamma"].Data, v => Assert.Equal(1e-6f, v));
        Assert.Equal(Atto.ParameterCount(1000), w.ParameterCount);
    }

    [Fact]
    public void Random_model_is_marked_untrained_and_gives_sane_logits()
    {
        var weights = RandomWeights.Create(Atto, 1000, seed: 7);
        var model = ConvNeXtOnnxBuilder.Build(weights);

        var path = Path.Combine(Path.GetTempPath(), $"convnext-random-{Guid.NewGuid():N}.onnx");
        File.WriteAllBytes(path, model);
        try
        {
            var metadata = OnnxModelInfo.Read(path).Metadata;
            Assert.False(metadata.Trained);
            Assert.Equal("random", metadata.WeightsFormat);
            Assert.Null(metadata.WeightsSha256);
            Assert.Null(metadata.ReferenceAccuracy);
        }
        finally { File.Delete(path); }

        var golden = Golden.Atto;
        var logits = OnnxRunner.Run(model, golden.InputShape, golden.Input);
        Assert.All(logits, v => Assert.True(float.IsFinite(v) && Math.Abs(v) < 10, $"logit {v}"));
        Assert.True(logits.Distinct().Count() > 100, "logits must depend on the class");
    }
}
