using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;

namespace ConvNeXt.Batch.Scoring.Tests.Models;

/// <summary>Runs a built model with ONNX Runtime directly (the thing under test is the graph, not a wrapper).</summary>
internal static class OnnxRunner
{
    public static float[] Run(byte[] model, int[] inputShape, float[] input)
    {
        using var options = new SessionOptions { IntraOpNumThreads = 2 };
        using var session = new InferenceSession(model, options);
        using var tensor = OrtValue.CreateTensorValueFromMemory(input, inputShape.Select(d => (long)d).ToArray());
        using var runOptions = new RunOptions();
        using var outputs = session.Run(runOptions, ["pixel_values"], [tensor], ["logits"]);
        return outputs[0].GetTensorDataAsSpan<float>().ToArray();
    }

    public static double RelativeL2(float[] actual, float[] expected)
    {
        Assert.Equal(expected.Length, actual.Length);
        double num = 0, den = 0;
        for (var i = 0; i < expected.Length; i++)
        {
            var d = (double)actual[i] - expected[i];
            num += d * d;
            den += (double)expected[i] * expected[i];
        }
        return Math.Sqrt(num / den);
    }

    public static int[] ArgMaxRows(float[] logits, int classes) =>
        Enumerable.Range(0, logits.Length / classes)
            .Select(r => Enumerable.Range(0, classes).MaxBy(c => logits[r * classes + c])).ToArray();
}
