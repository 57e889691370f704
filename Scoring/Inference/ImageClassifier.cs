using System.Buffers;
using System.Runtime.InteropServices;
using ConvNeXt.Batch.Scoring.Labels;
using ConvNeXt.Batch.Scoring.Models;
using ConvNeXt.Batch.Scoring.Preprocessing;
using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;
using ModelMetadata = ConvNeXt.Batch.Scoring.Models.ModelMetadata;

namespace ConvNeXt.Batch.Scoring.Inference;

/// <summary>
/// One ONNX Runtime session for an image classifier: preprocessed CHW batches in, softmax
/// probabilities out. Safe for concurrent callers (ONNX Runtime sessions are); dispose only when no
/// call is in flight.
/// </summary>
public sealed class ImageClassifier : IDisposable
{
    private readonly InferenceSession _session;
    private readonly RunOptions _runOptions = new();
    private readonly string[] _inputNames;
    private readonly string[] _outputNames;
    private readonly bool _fp16Input;
    private readonly bool _fp16Output;
    private readonly ModelOutputKind? _outputKind;
    private readonly bool _outputNamedAsProbabilities;
    private readonly List<string> _warnings = [];

    private ImageClassifier(InferenceSession session, string path, string executionProvider, InferenceOptions options,
        PreprocessingSettings? preprocessing, ClassLabels? labels)
    {
        _session = session;
        ExecutionProvider = executionProvider;
        ModelPath = Path.GetFullPath(path);
        ModelId = Path.GetFileNameWithoutExtension(path);
        ModelSha256 = FileSha256.Compute(path);

        try
        {
            Metadata = ModelMetadata.FromProperties(session.ModelMetadata.CustomMetadataMap);
        }
        catch (Exception e) when (e is FormatException or System.Text.Json.JsonException)
        {
            throw new ModelLoadException($"{ModelId}: convnext_batch.* metadata is malformed: {e.Message}", e);
        }

        if (session.InputMetadata.Count != 1)
            throw new ModelLoadException($"{ModelId}: expected one image input, found {session.InputMetadata.Count}");
        var (inputName, input) = session.InputMetadata.First();
        var dims = input.Dimensions;
        if (!input.IsTensor || dims.Length != 4 || dims[1] != 3)
            throw new ModelLoadException($"{ModelId}: input '{inputName}' must be an [N,3,H,W] tensor, is [{string.Join(",", dims)}]");
        _fp16Input = input.ElementDataType switch
        {
            TensorElementType.Float => false,
            TensorElementType.Float16 => true,
            var other => throw new ModelLoadException($"{ModelId}: input element type {other} is not supported (float or float16)"),
        };
        _inputNames = [inputName];
        FixedBatchSize = dims[0] > 0 ? dims[0] : null;

        Preprocessing = preprocessing ?? Metadata.Preprocessing ?? DefaultPreprocessing(dims);
        InputHeight = dims[2] > 0 ? dims[2] : Preprocessing.CropHeight;
        InputWidth = dims[3] > 0 ? dims[3] : Preprocessing.CropWidth;
        if (InputHeight != Preprocessing.CropHeight || InputWidth != Preprocessing.CropWidth)
            throw new ModelLoadException(
                $"{ModelId}: the model takes {InputHeight}×{InputWidth} images but preprocessing crops {Preprocessing.CropHeight}×{Preprocessing.CropWidth}");

        var (outputName, output) = session.OutputMetadata.First();
        _outputNames = [outputName];
        _fp16Output = output.ElementDataType switch
        {
            TensorElementType.Float => false,
            TensorElementType.Float16 => true,
            var other => throw new ModelLoadException($"{ModelId}: output element type {other} is not supported (float or float16)"),
        };
        // Models built here say what they output; for other models the output's name and row sums decide.
        _outputKind = Metadata.Output;
        _outputNamedAsProbabilities = outputName.Contains("softmax", StringComparison.OrdinalIgnoreCase)
            || outputName.Contains("prob", StringComparison.OrdinalIgnoreCase);
        var outDims = output.Dimensions;
        ClassCount = outDims.Length >= 2 && outDims.Skip(1).All(d => d > 0)
            ? outDims.Skip(1).Aggregate(1, (a, d) => a * d)
            : ProbeClassCount();

        Labels = labels ?? Metadata.Labels;
        if (Labels is not null && Labels.Count != ClassCount)
            throw new ModelLoadException($"{ModelId}: the model has {ClassCount} classes but the label table has {Labels.Count}");

        if (preprocessing is null && Metadata.Preprocessing is null)
            Warn(options, $"{ModelId}: no preprocessing in the model metadata and none given; using timm defaults ({Preprocessing.ResizeShorter} → {InputHeight}×{InputWidth}, bicubic, ImageNet mean/std)");
    }

    /// <summary>Opens <paramref name="onnxPath"/>. Preprocessing and labels given here win over the model's metadata.</summary>
    /// <exception cref="ModelLoadException">The file is not a usable image classifier.</exception>
    public static ImageClassifier Load(string onnxPath, InferenceOptions? options = null,
        PreprocessingSettings? preprocessing = null, ClassLabels? labels = null)
    {
        ArgumentNullException.ThrowIfNull(onnxPath);
        options ??= new InferenceOptions();
        if (!File.Exists(onnxPath))
            throw new ModelLoadException($"model file not found: {onnxPath}");
        var device = options.ParseDevice();
        var pending = new List<string>();

        InferenceSession? session = null;
        var provider = "cpu";
        if (device.IsCuda)
        {
            using var cudaOptions = CreateSessionOptions(options);
            try
            {
                cudaOptions.AppendExecutionProvider_CUDA(device.DeviceId);
                session = new InferenceSession(onnxPath, cudaOptions);
                provider = device.ToString();
            }
            catch (Exception e) when (e is OnnxRuntimeException or EntryPointNotFoundException or DllNotFoundException)
            {
                if (!device.FallsBackToCpu)
                    throw new ExecutionProviderException(
                        $"CUDA execution provider unavailable on {device} ({FirstLine(e.Message)}); device '{options.Device}' does not fall back to the CPU (use auto for that)", e);
                pending.Add($"CUDA execution provider unavailable ({FirstLine(e.Message)}); running on CPU (device auto)");
            }
        }
        if (session is null)
        {
            using var cpuOptions = CreateSessionOptions(options);
            try
            {
                session = new InferenceSession(onnxPath, cpuOptions);
            }
            catch (OnnxRuntimeException e)
            {
                throw new ModelLoadException($"cannot load ONNX model {onnxPath}: {FirstLine(e.Message)}", e);
            }
        }

        try
        {
            var classifier = new ImageClassifier(session, onnxPath, provider, options, preprocessing, labels);
            foreach (var message in pending)
                classifier.Warn(options, message);
            if (device.IsCuda && classifier.Metadata.Quantized is { } quantized)
                classifier.Warn(options, $"{classifier.ModelId} is an {quantized} QDQ model: ONNX Runtime's CUDA execution provider runs int8 QDQ graphs slowly or not at all "
                    + "(its quantization guide points int8 on NVIDIA GPUs to the TensorRT execution provider); score it with --device cpu, or use the float model on the GPU");
            return classifier;
        }
        catch
        {
            session.Dispose();
            throw;
        }
    }

    public ModelMetadata Metadata { get; }

    public PreprocessingSettings Preprocessing { get; }

    public ClassLabels? Labels { get; }

    public int ClassCount { get; }

    /// <summary>The batch size the model was exported with, or <c>null</c> for a dynamic batch dimension.</summary>
    public int? FixedBatchSize { get; }

    /// <summary><c>cpu</c> or <c>cuda:N</c>: where inference actually runs.</summary>
    public string ExecutionProvider { get; }

    /// <summary>File name without extension.</summary>
    public string ModelId { get; }

    public string ModelPath { get; }

    /// <summary>Lower-case hex SHA-256 of the ONNX file.</summary>
    public string ModelSha256 { get; }

    public int InputHeight { get; }

    public int InputWidth { get; }

    /// <summary>Floats per image in a batch passed to <see cref="Predict(ReadOnlySpan{float}, int)"/>.</summary>
    public int TensorLength => 3 * InputHeight * InputWidth;

    public string InputName => _inputNames[0];

    public string OutputName => _outputNames[0];

    /// <summary>Warnings raised while loading (also sent to <see cref="InferenceOptions.Warning"/>).</summary>
    public IReadOnlyList<string> Warnings => _warnings;

    /// <summary>Runs <paramref name="count"/> preprocessed images (CHW, back to back) and returns their softmax probabilities, [count × ClassCount].</summary>
    public float[] Predict(ReadOnlySpan<float> batch, int count)
    {
        var probabilities = new float[count * ClassCount];
        Predict(batch, count, probabilities);
        return probabilities;
    }

    /// <summary>As <see cref="Predict(ReadOnlySpan{float}, int)"/>, writing into the caller's buffer.</summary>
    public void Predict(ReadOnlySpan<float> batch, int count, Span<float> probabilities)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(count);
        var length = TensorLength;
        if (batch.Length < (long)count * length)
            throw new ArgumentException($"batch holds {batch.Length} floats; {count} images need {(long)count * length}", nameof(batch));
        if (probabilities.Length < count * ClassCount)
            throw new ArgumentException($"probabilities holds {probabilities.Length} floats; {count * ClassCount} needed", nameof(probabilities));
        if (count == 0)
            return;
        var chunk = FixedBatchSize ?? count;
        for (var start = 0; start < count; start += chunk)
        {
            var n = Math.Min(chunk, count - start);
            RunChunk(batch.Slice(start * length, n * length), n, FixedBatchSize ?? n, probabilities.Slice(start * ClassCount, n * ClassCount));
        }
    }

    /// <summary>The <paramref name="k"/> most probable classes of one image's probabilities, best first.</summary>
    public IReadOnlyList<ClassScore> TopK(ReadOnlySpan<float> probabilities, int k = 5)
    {
        k = Math.Min(k, probabilities.Length);
        if (k <= 0)
            return [];
        Span<int> best = k <= 64 ? stackalloc int[k] : new int[k];
        var filled = 0;
        for (var i = 0; i < probabilities.Length; i++)
        {
            var p = probabilities[i];
            if (filled == k && !(p > probabilities[best[k - 1]]))
                continue;
            var j = filled < k ? filled++ : k - 1;
            while (j > 0 && p > probabilities[best[j - 1]])
            {
                best[j] = best[j - 1];
                j--;
            }
            best[j] = i;
        }
        var result = new ClassScore[filled];
        for (var r = 0; r < filled; r++)
        {
            var index = best[r];
            var label = Labels is not null && index < Labels.Count ? Labels[index] : null;
            result[r] = new ClassScore(index, label?.Wnid, label?.Name, probabilities[index]);
        }
        return result;
    }

    /// <summary>Stops the profiler (<see cref="InferenceOptions.ProfilePrefix"/>) and returns the profile's path.</summary>
    public string EndProfiling() => _session.EndProfiling();

    public void Dispose()
    {
        _session.Dispose();
        _runOptions.Dispose();
    }

    private unsafe void RunChunk(ReadOnlySpan<float> images, int count, int runCount, Span<float> probabilities)
    {
        var length = TensorLength;
        long[] shape = [runCount, 3, InputHeight, InputWidth];
        var total = runCount * length;
        if (_fp16Input)
        {
            var half = ArrayPool<Half>.Shared.Rent(total);
            try
            {
                for (var i = 0; i < images.Length; i++)
                    half[i] = (Half)images[i];
                half.AsSpan(images.Length, total - images.Length).Clear();
                fixed (Half* p = half)
                    Run(OrtValue.CreateTensorValueWithData(OrtMemoryInfo.DefaultInstance, TensorElementType.Float16, shape, (IntPtr)p, (long)total * sizeof(Half)), count, probabilities);
            }
            finally
            {
                ArrayPool<Half>.Shared.Return(half);
            }
        }
        else if (runCount == count)
        {
            // The caller's batch buffer is handed to ONNX Runtime as is: no copy.
            fixed (float* p = images)
                Run(OrtValue.CreateTensorValueWithData(OrtMemoryInfo.DefaultInstance, TensorElementType.Float, shape, (IntPtr)p, (long)total * sizeof(float)), count, probabilities);
        }
        else
        {
            var padded = ArrayPool<float>.Shared.Rent(total);
            try
            {
                images.CopyTo(padded);
                padded.AsSpan(images.Length, total - images.Length).Clear();
                fixed (float* p = padded)
                    Run(OrtValue.CreateTensorValueWithData(OrtMemoryInfo.DefaultInstance, TensorElementType.Float, shape, (IntPtr)p, (long)total * sizeof(float)), count, probabilities);
            }
            finally
            {
                ArrayPool<float>.Shared.Return(padded);
            }
        }
    }

    private void Run(OrtValue input, int count, Span<float> probabilities)
    {
        using (input)
        using (var outputs = _session.Run(_runOptions, _inputNames, [input], _outputNames))
        {
            var output = outputs[0];
            var classes = ClassCount;
            var needed = count * classes;
            if (_fp16Output)
            {
                var half = MemoryMarshal.Cast<Float16, Half>(output.GetTensorDataAsSpan<Float16>());
                if (half.Length < needed)
                    throw new InvalidOperationException($"model returned {half.Length} values; {needed} expected");
                for (var i = 0; i < needed; i++)
                    probabilities[i] = (float)half[i];
            }
            else
            {
                var values = output.GetTensorDataAsSpan<float>();
                if (values.Length < needed)
                    throw new InvalidOperationException($"model returned {values.Length} values; {needed} expected");
                values[..needed].CopyTo(probabilities);
            }
        }
        if (_outputKind == ModelOutputKind.Probabilities)
            return;
        var tolerance = _fp16Output ? 5e-3 : 1e-4;
        for (var r = 0; r < count; r++)
        {
            var row = probabilities.Slice(r * ClassCount, ClassCount);
            if (_outputKind == ModelOutputKind.Logits || !(_outputNamedAsProbabilities || LooksLikeProbabilities(row, tolerance)))
                Softmax(row);
        }
    }

    private static bool LooksLikeProbabilities(ReadOnlySpan<float> row, double tolerance)
    {
        double sum = 0;
        foreach (var v in row)
        {
            if (!(v >= 0))
                return false;
            sum += v;
        }
        return Math.Abs(sum - 1) <= tolerance;
    }

    private static void Softmax(Span<float> row)
    {
        var max = float.NegativeInfinity;
        foreach (var v in row)
            max = Math.Max(max, v);
        double sum = 0;
        for (var i = 0; i < row.Length; i++)
        {
            var e = Math.Exp(row[i] - max);
            row[i] = (float)e;
            sum += e;
        }
        var scale = (float)(1 / sum);
        for (var i = 0; i < row.Length; i++)
            row[i] *= scale;
    }

    private int ProbeClassCount()
    {
        var probe = new float[(FixedBatchSize ?? 1) * TensorLength];
        long[] shape = [FixedBatchSize ?? 1, 3, InputHeight, InputWidth];
        using var input = _fp16Input
            ? OrtValue.CreateTensorValueFromMemory(new Float16[probe.Length], shape)
            : OrtValue.CreateTensorValueFromMemory(probe, shape);
        using var outputs = _session.Run(_runOptions, _inputNames, [input], _outputNames);
        return (int)(outputs[0].GetTensorTypeAndShape().ElementCount / (FixedBatchSize ?? 1));
    }

    private static PreprocessingSettings DefaultPreprocessing(int[] inputDims) =>
        inputDims[2] > 0 && inputDims[2] == inputDims[3] ? PreprocessingSettings.Timm(inputDims[2])
        : inputDims[2] > 0 && inputDims[3] > 0 ? PreprocessingSettings.Timm() with { CropHeight = inputDims[2], CropWidth = inputDims[3] }
        : PreprocessingSettings.Timm();

    private static SessionOptions CreateSessionOptions(InferenceOptions options)
    {
        var so = new SessionOptions { GraphOptimizationLevel = options.OptimizationLevel };
        if (options.IntraOpThreads > 0)
            so.IntraOpNumThreads = options.IntraOpThreads;
        so.AddSessionConfigEntry("session.intra_op.allow_spinning", options.AllowSpinning ? "1" : "0");
        if (options.ProfilePrefix is { } prefix)
        {
            so.EnableProfiling = true;
            so.ProfileOutputPathPrefix = prefix;
        }
        return so;
    }

    private void Warn(InferenceOptions options, string message)
    {
        _warnings.Add(message);
        options.Warning?.Invoke(message);
    }

    private static string FirstLine(string message)
    {
        var trimmed = message.Trim();
        var newline = trimmed.IndexOf('\n');
        return newline < 0 ? trimmed : trimmed[..newline];
    }
}
