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

    /// <summary>
    /// timm initialises conv and linear weights with <c>trunc_normal_(std=.02)</c>, whose bounds
    /// a=-2, b=2 are absolute: at σ = 0.02 that is ±100σ, so the draw is a plain N(0, 0.02²). A ±2σ
    /// truncation (std ≈ 0.0176, nothing beyond 0.04) fails here.
    /// </summary>
    [Fact]
    public void Initialisation_follows_timm()
    {
        var w = RandomWeights.Create(ConvNeXtSpec.Find("tiny"), 1000, seed: 1);
        var fc1 = w["stages.2.blocks.3.mlp.fc1.weight"].Data; // 589,824 values
        var mean = fc1.Average();
        var std = Math.Sqrt(fc1.Average(v => (v - mean) * (v - mean)));
        Assert.InRange(std, 0.0198, 0.0202);
        // P(|z| > 2σ) = 4.55 % for a normal; the standard error at this size is about 0.03 points.
        var beyondTwoSigma = fc1.Count(v => Math.Abs(v) > 0.04) / (double)fc1.Length;
        Assert.InRange(beyondTwoSigma, 0.0435, 0.0475);
        Assert.All(fc1, v => Assert.InRange(v, -RandomWeights.TruncationBound, RandomWeights.TruncationBound));
        Assert.All(w["stages.2.blocks.3.norm.weight"].Data, v => Assert.Equal(1f, v));
        Assert.All(w["stages.2.blocks.3.mlp.fc1.bias"].Data, v => Assert.Equal(0f, v));
        Assert.All(w["stages.2.blocks.3.gamma"].Data, v => Assert.Equal(1e-6f, v));
        Assert.Equal(ConvNeXtSpec.Find("tiny").ParameterCount(1000), w.ParameterCount);

        var inception = RandomWeights.Create(InceptionNeXtSpec.Find("tiny"), 1000, seed: 1);
        Assert.All(inception["stages.1.blocks.0.norm.running_var"].Data, v => Assert.Equal(1f, v));
        Assert.All(inception["stages.1.blocks.0.norm.running_mean"].Data, v => Assert.Equal(0f, v));
        Assert.InRange(inception["stages.2.blocks.0.mlp.fc2.weight"].Data.Count(v => Math.Abs(v) > 0.04) / (double)(384 * 1536), 0.04, 0.051);
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
