using ConvNeXt.Batch.Scoring.Onnx.Proto;
using ConvNeXt.Batch.Scoring.Preprocessing;
using ConvNeXt.Batch.Scoring.Quantization;
using Google.Protobuf;
using Microsoft.ML.OnnxRuntime;

namespace ConvNeXt.Batch.Scoring.Tests.Quantization;

/// <summary>Channel equalisation on the real SqueezeNet 1.1: the float function stays, the channels of the quantized tensors even out.</summary>
public class ChannelEqualizationTests
{
    private static ModelProto FloatSqueezeNet()
    {
        var model = ModelProto.Parser.ParseFrom(File.ReadAllBytes(Repository.SqueezeNet));
        Float16Upcast.Apply(model);
        InferenceGraphCleanup.Apply(model.Graph);
        return model;
    }

    [Fact]
    public void The_float_model_computes_the_same_and_each_concat_s_channels_use_more_of_its_range()
    {
        Repository.RequireShared();
        var preprocessing = PreprocessingSettings.Caffe();
        var images = CalibrationImages.Load(Repository.ImagenetVal100, preprocessing, 8);
        var original = FloatSqueezeNet();
        var equalized = original.Clone();
        var groups = ChannelEqualization.Apply(equalized, images, 224, 224, new QuantizationOptions { IntraOpThreads = 2 });
        // conv1, and each fire module's squeeze, expand1x1 and expand3x3 (conv10 feeds the pooled output: left alone).
        Assert.Equal(1 + 8 * 3, groups);

        string[] inner = ["fire5/concat_1", "fire8/concat_1", "fire9/squeeze1x1_2"];
        var (before, beforeOutputs) = Run(original, images, inner);
        var (after, afterOutputs) = Run(equalized, images, inner);
        for (var i = 0; i < beforeOutputs.Length; i++)
            Assert.True(Math.Abs(beforeOutputs[i] - afterOutputs[i]) <= 1e-4 + 1e-3 * Math.Abs(beforeOutputs[i]),
                $"output {i}: {beforeOutputs[i]} before, {afterOutputs[i]} after");
        foreach (var tensor in inner)
        {
            // Median channel maximum over the tensor maximum: the share of the quantization range a typical channel uses.
            Assert.True(Share(after[tensor]) > 1.2 * Share(before[tensor]), $"{tensor}: {Share(before[tensor]):F3} → {Share(after[tensor]):F3}");
        }
    }

    private static double Share(float[] channelMax)
    {
        var sorted = channelMax.Order().ToArray();
        return sorted[sorted.Length / 2] / sorted[^1];
    }

    /// <returns>Per-channel maxima of <paramref name="tensors"/> and the model's outputs, over the images.</returns>
    private static (Dictionary<string, float[]> Max, float[] Outputs) Run(ModelProto model, CalibrationImages images, string[] tensors)
    {
        var augmented = model.Clone();
        foreach (var name in tensors)
            augmented.Graph.Output.Add(new ValueInfoProto { Name = name, Type = new TypeProto { TensorType = new TypeProto.Types.Tensor { ElemType = (int)TensorProto.Types.DataType.Float } } });
        using var session = new InferenceSession(augmented.ToByteArray());
        var input = augmented.Graph.Input[0].Name;
        var names = new[] { augmented.Graph.Output[0].Name }.Concat(tensors).ToArray();
        var max = tensors.ToDictionary(t => t, _ => Array.Empty<float>());
        var outputs = new List<float>();
        foreach (var image in images.Tensors)
        {
            using var value = OrtValue.CreateTensorValueFromMemory(image, new long[] { 1, 3, 224, 224 });
            using var results = session.Run(new RunOptions(), [input], [value], names);
            outputs.AddRange(results[0].GetTensorDataAsSpan<float>().ToArray());
            for (var t = 0; t < tensors.Length; t++)
            {
                var shape = results[t + 1].GetTensorTypeAndShape().Shape;
                var (channels, plane) = ((int)shape[1], (int)(shape[2] * shape[3]));
                var data = results[t + 1].GetTensorDataAsSpan<float>();
                var m = max[tensors[t]].Length == channels ? max[tensors[t]] : max[tensors[t]] = new float[channels];
                for (var i = 0; i < data.Length; i++)
                    m[i / plane] = Math.Max(m[i / plane], data[i]);
            }
        }
        return (max, outputs.ToArray());
    }
}
