using ConvNeXt.Batch.Scoring.Labels;
using ConvNeXt.Batch.Scoring.Models;
using ConvNeXt.Batch.Scoring.Onnx;
using ConvNeXt.Batch.Scoring.Onnx.Proto;
using ConvNeXt.Batch.Scoring.Preprocessing;
using Google.Protobuf;
using Microsoft.ML.OnnxRuntime;
using ModelMetadata = ConvNeXt.Batch.Scoring.Models.ModelMetadata;

namespace ConvNeXt.Batch.Scoring.Quantization;

/// <summary>
/// Static post-training int8 quantization of an ONNX classifier into a QDQ graph, in the design of
/// ONNX Runtime's quantization tool (<c>quantize_static</c> with <c>QuantFormat.QDQ</c>,
/// activations uint8, weights int8 per channel; see
/// https://onnxruntime.ai/docs/performance/model-optimizations/quantization.html). The steps:
/// float16 → float32, drop inference no-ops, opset 13, plan (<see cref="QdqPlan"/>), calibrate on
/// real images (<see cref="ActivationCalibrator"/>, after <see cref="ChannelEqualization"/> when asked), optionally round the weights by GPTQ
/// (<see cref="GptqRounding"/>), rewrite (<see cref="QdqRewriter"/>), carry the metadata over, and load the result in ONNX Runtime before returning, so a written file is one
/// that runs.
/// </summary>
public static class ModelQuantizer
{
    /// <param name="preprocessing">The preprocessing the calibration images went through; recorded in the output.</param>
    /// <param name="labels">Labels to record in the output (<c>null</c>: the model's own, if any).</param>
    /// <exception cref="InvalidDataException">The model cannot be quantized (nothing to quantize, unsupported opset change).</exception>
    public static QuantizationReport Quantize(string modelPath, string outputPath, CalibrationImages images,
        PreprocessingSettings preprocessing, ClassLabels? labels, QuantizationOptions options)
    {
        ArgumentNullException.ThrowIfNull(images);
        if (images.Count == 0)
            throw new ArgumentException("no calibration images", nameof(images));
        ModelProto model;
        using (var stream = File.OpenRead(modelPath))
        {
            try { model = ModelProto.Parser.ParseFrom(stream); }
            catch (InvalidProtocolBufferException e) { throw new InvalidDataException($"{modelPath}: not an ONNX model: {e.Message}", e); }
        }
        var graph = model.Graph ?? throw new InvalidDataException($"{modelPath}: ONNX model has no graph");
        var properties = model.MetadataProps.ToDictionary(p => p.Key, p => p.Value, StringComparer.Ordinal);
        var metadata = ModelMetadata.FromProperties(properties);
        if (metadata.Quantized is not null)
            throw new InvalidDataException($"{modelPath} is already quantized ({metadata.Quantized})");

        var upcast = Float16Upcast.Apply(model);
        InferenceGraphCleanup.Apply(graph);
        var opset = OpsetUpgrade.Apply(model);
        if (options.FloatOutputPath is { } floatPath)
        {
            var baseline = model.Clone();
            SetMetadata(baseline, properties, metadata with { Preprocessing = preprocessing, Labels = labels ?? metadata.Labels, Precision = "fp32" });
            OnnxModelFile.Write(baseline, floatPath);
        }
        var plan = QdqPlan.Create(graph, options.FloatHead, options.Exclude);
        if (plan.Compute.Count == 0)
            throw new InvalidDataException($"{modelPath}: no Conv, MatMul or Gemm with constant float weights: nothing to quantize");

        var equalized = options.Equalize ? ChannelEqualization.Apply(model, images, preprocessing.CropHeight, preprocessing.CropWidth, options) : 0;
        var ranges = ActivationCalibrator.Run(model, plan.Tensors, images, preprocessing.CropHeight, preprocessing.CropWidth, options);
        var weightScales = options.WeightRounding == WeightRounding.Gptq
            ? GptqRounding.Apply(model, plan.Compute, images, preprocessing.CropHeight, preprocessing.CropWidth, options, plan.Notes)
            : null;
        QdqRewriter.Apply(graph, plan, ranges, weightScales);

        var quantizedMetadata = metadata with
        {
            Preprocessing = preprocessing,
            Labels = labels ?? metadata.Labels,
            // The float parts of the graph (LayerNorm, Softmax, GELU, …) are float32 after the upcast.
            Precision = "fp32",
            Quantized = "int8",
            Calibration = new CalibrationRecord(options.Method.ToString().ToLowerInvariant(), images.Count, images.Sha256)
            {
                WeightRounding = options.WeightRounding.ToString().ToLowerInvariant(),
                Equalized = options.Equalize,
            },
        };
        SetMetadata(model, properties, quantizedMetadata);
        var rounding = (options.Equalize ? ", channels equalised" : "") + (options.WeightRounding == WeightRounding.Gptq ? ", GPTQ weight rounding" : "");
        model.DocString = $"int8 QDQ ({options.Method.ToString().ToLowerInvariant()} calibration on {images.Count} images{rounding}) of: {model.DocString}";

        var folder = Path.GetDirectoryName(Path.GetFullPath(outputPath));
        if (folder is not null)
            Directory.CreateDirectory(folder);
        OnnxModelFile.Write(model, outputPath);
        try
        {
            // ORT's full optimisation is where the QDQ fusions happen: a graph it refuses is not written.
            using var session = new InferenceSession(outputPath, new SessionOptions { GraphOptimizationLevel = GraphOptimizationLevel.ORT_ENABLE_ALL });
        }
        catch (OnnxRuntimeException e)
        {
            File.Delete(outputPath);
            throw new InvalidDataException($"the quantized graph does not load in ONNX Runtime ({e.Message.Split('\n')[0]}); nothing written", e);
        }

        var int8 = new SortedDictionary<string, int>(StringComparer.Ordinal);
        foreach (var node in plan.Compute.Keys.Concat(plan.DataNodes))
            int8[node.OpType] = int8.GetValueOrDefault(node.OpType) + 1;
        if (plan.FoldedRelus.Count > 0)
            int8["Relu (folded)"] = plan.FoldedRelus.Count;
        return new QuantizationReport
        {
            OutputPath = outputPath,
            Int8Operators = int8,
            FloatOperators = plan.FloatOperators,
            QuantizedTensors = plan.Tensors.Count,
            Notes = plan.Notes,
            UpcastFromFloat16 = upcast,
            OriginalOpset = opset,
            FileBytes = new FileInfo(outputPath).Length,
            EqualizedConvolutions = equalized,
        };
    }

    private static void SetMetadata(ModelProto model, Dictionary<string, string> original, ModelMetadata metadata)
    {
        // Keys of other tools are kept; this project's keys are what the metadata says now.
        var properties = original.Where(p => !p.Key.StartsWith("convnext_batch.", StringComparison.Ordinal))
            .Concat(metadata.ToProperties()).ToDictionary(p => p.Key, p => p.Value, StringComparer.Ordinal);
        model.MetadataProps.Clear();
        foreach (var (key, value) in properties.OrderBy(p => p.Key, StringComparer.Ordinal))
            model.MetadataProps.Add(new StringStringEntryProto { Key = key, Value = value });
    }
}
