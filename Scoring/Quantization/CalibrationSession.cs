using ConvNeXt.Batch.Scoring.Onnx.Proto;
using Google.Protobuf;
using Microsoft.ML.OnnxRuntime;
using DataType = ConvNeXt.Batch.Scoring.Onnx.Proto.TensorProto.Types.DataType;

namespace ConvNeXt.Batch.Scoring.Quantization;

/// <summary>
/// A model in ONNX Runtime with chosen inner tensors added as graph outputs (as ORT's calibrators
/// do), run over the calibration images one by one.
/// </summary>
internal sealed class CalibrationSession : IDisposable
{
    private readonly InferenceSession _session;
    private readonly SessionOptions _options;
    private readonly string _input;
    private readonly int _batch;
    private readonly string[] _fetched;
    private readonly int[] _fetchIndex;

    /// <param name="tensors">Tensors to read back, by name; the model's image input may be one of them.</param>
    public CalibrationSession(ModelProto model, IReadOnlyList<string> tensors, GraphOptimizationLevel level, int intraOpThreads)
    {
        var augmented = model.Clone();
        var existing = augmented.Graph.Output.Select(o => o.Name).ToHashSet(StringComparer.Ordinal);
        var inputNames = augmented.Graph.Input.Select(i => i.Name).ToHashSet(StringComparer.Ordinal);
        foreach (var name in tensors.Where(t => !existing.Contains(t) && !inputNames.Contains(t)).Distinct())
            augmented.Graph.Output.Add(new ValueInfoProto
            {
                Name = name,
                Type = new TypeProto { TensorType = new TypeProto.Types.Tensor { ElemType = (int)DataType.Float } },
            });
        var initializers = augmented.Graph.Initializer.Select(i => i.Name).ToHashSet(StringComparer.Ordinal);
        var input = augmented.Graph.Input.First(i => !initializers.Contains(i.Name));
        _input = input.Name;
        var batchDim = input.Type?.TensorType?.Shape?.Dim.FirstOrDefault();
        _batch = batchDim is { ValueCase: TensorShapeProto.Types.Dimension.ValueOneofCase.DimValue, DimValue: > 0 } ? (int)batchDim.DimValue : 1;

        _options = new SessionOptions { GraphOptimizationLevel = level };
        if (intraOpThreads > 0)
            _options.IntraOpNumThreads = intraOpThreads;
        _session = new InferenceSession(augmented.ToByteArray(), _options);
        // The image input itself is read from the tensor fed in, not fetched back.
        _fetched = tensors.Where(n => n != _input).Distinct().ToArray();
        _fetchIndex = tensors.Select(n => Array.IndexOf(_fetched, n)).ToArray();
    }

    /// <summary>
    /// Runs every image and calls <paramref name="visit"/> with (tensor index, values, shape) for
    /// each requested tensor; <paramref name="imageDone"/> after each image.
    /// </summary>
    public void Run(CalibrationImages images, int height, int width, VisitTensor visit, Action<int>? imageDone = null)
    {
        var length = images.TensorLength;
        var data = new float[_batch * length];
        long[] shape = [_batch, 3, height, width];
        using var runOptions = new RunOptions();
        for (var i = 0; i < images.Count; i++)
        {
            // A fixed batch larger than one repeats the image: ranges and means are the same.
            for (var b = 0; b < _batch; b++)
                images.Tensors[i].CopyTo(data, b * length);
            using var value = OrtValue.CreateTensorValueFromMemory(data, shape);
            using var outputs = _session.Run(runOptions, [_input], [value], _fetched);
            for (var t = 0; t < _fetchIndex.Length; t++)
            {
                if (_fetchIndex[t] < 0)
                    visit(t, data.AsSpan(0, length), [1, 3, height, width]);
                else
                {
                    var output = outputs[_fetchIndex[t]];
                    visit(t, output.GetTensorDataAsSpan<float>(), output.GetTensorTypeAndShape().Shape);
                }
            }
            imageDone?.Invoke(i + 1);
        }
    }

    public void Dispose()
    {
        _session.Dispose();
        _options.Dispose();
    }

    public delegate void VisitTensor(int tensor, ReadOnlySpan<float> values, ReadOnlySpan<long> shape);
}
