using ConvNeXt.Batch.Scoring.Onnx.Proto;
using Google.Protobuf;
using Microsoft.ML.OnnxRuntime;
using DataType = ConvNeXt.Batch.Scoring.Onnx.Proto.TensorProto.Types.DataType;

namespace ConvNeXt.Batch.Scoring.Quantization;

/// <summary>
/// Finds each activation's float range by running the calibration images through the real model
/// in ONNX Runtime (<see cref="CalibrationSession"/>). MinMax needs one pass; percentile, entropy
/// and MSE a second one that fills a histogram of |x| over the range the first pass found.
/// </summary>
internal static class ActivationCalibrator
{
    public static Dictionary<string, (float Min, float Max)> Run(ModelProto model, IReadOnlyList<string> tensors,
        CalibrationImages images, int height, int width, QuantizationOptions options)
    {
        if (images.Count == 0)
            throw new ArgumentException("no calibration images", nameof(images));
        using var session = new CalibrationSession(model, tensors, GraphOptimizationLevel.ORT_ENABLE_BASIC, options.IntraOpThreads);
        var names = tensors.ToArray();
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
            var threshold = options.Method switch
            {
                CalibrationMethod.Percentile => histograms[t].Percentile(options.Percentile),
                CalibrationMethod.Mse => histograms[t].Mse(min[t] >= 0 ? 255 : 127.5),
                _ => histograms[t].Entropy(min[t] >= 0 ? 256 : 128),
            };
            ranges[names[t]] = (Math.Max(min[t], -threshold), Math.Min(max[t], threshold));
        }
        return ranges;

        void ForEachImage(int done, Action<int, ReadOnlySpan<float>> visit) =>
            session.Run(images, height, width, (t, values, _) => visit(t, values), i => options.Progress?.Invoke(done + i, total));
    }
}
