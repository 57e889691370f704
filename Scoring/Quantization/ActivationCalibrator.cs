using ConvNeXt.Batch.Scoring.Onnx.Proto;
using Google.Protobuf;
using Microsoft.ML.OnnxRuntime;
using DataType = ConvNeXt.Batch.Scoring.Onnx.Proto.TensorProto.Types.DataType;

namespace ConvNeXt.Batch.Scoring.Quantization;

/// <summary>
/// Finds each activation's float range by running the calibration images through the real model
/// in ONNX Runtime, with the tensors to be quantized added as graph outputs (as ORT's calibrators
/// do). MinMax needs one pass; percentile and entropy a second one that fills a histogram of |x|
/// over the range the first pass found.
/// </summary>
internal static class ActivationCalibrator
{
    public static Dictionary<string, (float Min, float Max)> Run(ModelProto model, IReadOnlyList<string> tensors,
        CalibrationImages images, int height, int width, QuantizationOptions options)
    {
        if (images.Count == 0)
            throw new ArgumentException("no calibration images", nameof(images));
        var augmented = model.Clone();
        var existing = augmented.Graph.Output.Select(o => o.Name).ToHashSet(StringComparer.Ordinal);
        var inputNames = augmented.Graph.Input.Select(i => i.Name).ToHashSet(StringComparer.Ordinal);
        foreach (var name in tensors.Where(t => !existing.Contains(t) && !inputNames.Contains(t)))
            augmented.Graph.Output.Add(new ValueInfoProto
            {
                Name = name,
                Type = new TypeProto { TensorType = new TypeProto.Types.Tensor { ElemType = (int)DataType.Float } },
            });
        var initializers = augmented.Graph.Initializer.Select(i => i.Name).ToHashSet(StringComparer.Ordinal);
        var input = augmented.Graph.Input.First(i => !initializers.Contains(i.Name));
        var batchDim = input.Type?.TensorType?.Shape?.Dim.FirstOrDefault();
        var batch = batchDim is { ValueCase: TensorShapeProto.Types.Dimension.ValueOneofCase.DimValue, DimValue: > 0 } ? (int)batchDim.DimValue : 1;

        using var sessionOptions = new SessionOptions { GraphOptimizationLevel = GraphOptimizationLevel.ORT_ENABLE_BASIC };
        if (options.IntraOpThreads > 0)
            sessionOptions.IntraOpNumThreads = options.IntraOpThreads;
        using var session = new InferenceSession(augmented.ToByteArray(), sessionOptions);
        using var runOptions = new RunOptions();
        var names = tensors.ToArray();
        // The image input itself is read from the tensors fed in, not fetched back.
        var fetched = names.Where(n => n != input.Name).ToArray();
        var fetchIndex = names.Select(n => Array.IndexOf(fetched, n)).ToArray();
        var total = options.Method == CalibrationMethod.MinMax ? images.Count : 2 * images.Count;

        var min = new float[names.Length];
        var max = new float[names.Length];
        Array.Fill(min, float.PositiveInfinity);
        Array.Fill(max, float.NegativeInfinity);
        ForEachImage(0, (t, values) =>
        {
            var (lo, hi) = (min[t], max[t]);
            foreach (var v in values)
            {
                if (v < lo) lo = v;
                if (v > hi) hi = v;
            }
            (min[t], max[t]) = (lo, hi);
        });

        var ranges = new Dictionary<string, (float Min, float Max)>(StringComparer.Ordinal);
        if (options.Method == CalibrationMethod.MinMax)
        {
            for (var t = 0; t < names.Length; t++)
                ranges[names[t]] = (min[t], max[t]);
            return ranges;
        }

        var histograms = names.Select((_, t) => new ActivationHistogram(Math.Max(Math.Abs(min[t]), Math.Abs(max[t])))).ToArray();
        ForEachImage(images.Count, (t, values) => histograms[t].Add(values));
        for (var t = 0; t < names.Length; t++)
        {
            // uint8 holds 256 levels on one side of zero for a non-negative tensor, 128 each side otherwise.
            var threshold = options.Method == CalibrationMethod.Percentile
                ? histograms[t].Percentile(options.Percentile)
                : histograms[t].Entropy(min[t] >= 0 ? 256 : 128);
            ranges[names[t]] = (Math.Max(min[t], -threshold), Math.Min(max[t], threshold));
        }
        return ranges;

        void ForEachImage(int done, Action<int, ReadOnlySpan<float>> visit)
        {
            var length = images.TensorLength;
            var data = new float[batch * length];
            long[] shape = [batch, 3, height, width];
            for (var i = 0; i < images.Count; i++)
            {
                // A fixed batch larger than one repeats the image: the ranges are the same.
                for (var b = 0; b < batch; b++)
                    images.Tensors[i].CopyTo(data, b * length);
                using var value = OrtValue.CreateTensorValueFromMemory(data, shape);
                using var outputs = session.Run(runOptions, [input.Name], [value], fetched);
                for (var t = 0; t < names.Length; t++)
                    visit(t, fetchIndex[t] < 0 ? data.AsSpan(0, length) : outputs[fetchIndex[t]].GetTensorDataAsSpan<float>());
                options.Progress?.Invoke(done + i + 1, total);
            }
        }
    }
}
