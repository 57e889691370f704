using ConvNeXt.Batch.Scoring.Importers;
using ConvNeXt.Batch.Scoring.Inference;
using ConvNeXt.Batch.Scoring.Models;
using ConvNeXt.Batch.Scoring.Onnx;

namespace ConvNeXt.Batch.Scoring.Tests.Inference;

public class OutputKindTests
{
    /// <summary>
    /// A model whose logits happen to look like probabilities (non-negative, summing to 1): guessing from
    /// row sums would skip the softmax; the recorded output kind makes the classifier apply it.
    /// </summary>
    [Fact]
    public void Logits_recorded_in_the_metadata_get_a_softmax_even_when_they_sum_to_one()
    {
        var spec = new ConvNeXtSpec("test", [1, 1, 1, 1], [8, 16, 32, 64]);
        var tensors = ConvNeXtWeights.Layout(spec, 10).ToDictionary(l => l.Name, l => new WeightTensor(l.Shape, new float[l.Shape.Aggregate(1, (a, d) => a * d)]));
        tensors["head.fc.bias"].Data[0] = 0.5f;
        tensors["head.fc.bias"].Data[1] = 0.5f;
        var weights = new ConvNeXtWeights(spec, 10, tensors, sourceFormat: null, sha256: null, trained: false);
        var path = Path.Combine(Path.GetTempPath(), $"logits-{Guid.NewGuid():N}.onnx");
        try
        {
            ConvNeXtOnnxBuilder.BuildToFile(weights, new ModelBuildOptions { ImageSize = 32 }, path);
            using var classifier = ImageClassifier.Load(path);
            Assert.Equal(ModelOutputKind.Logits, classifier.Metadata.Output);

            var probabilities = classifier.Predict(new float[classifier.TensorLength], 1);
            var expected = Math.Exp(0.5) / (2 * Math.Exp(0.5) + 8);
            Assert.Equal(expected, probabilities[0], 5);
            Assert.Equal(1 / (2 * Math.Exp(0.5) + 8), probabilities[9], 5);
            Assert.Equal(1.0, probabilities.Sum(), 5);
        }
        finally { File.Delete(path); }
    }
}
