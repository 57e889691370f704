using Microsoft.ML.OnnxRuntime;

namespace ConvNeXt.Batch.Scoring.Inference;

/// <summary>How an <see cref="ImageClassifier"/> runs its ONNX Runtime session.</summary>
public sealed record InferenceOptions
{
    /// <summary>
    /// <c>cpu</c>, <c>cuda</c> or <c>cuda:N</c>. CUDA is requested from ONNX Runtime; when this build
    /// or machine cannot provide it the classifier warns and runs on CPU
    /// (see <see cref="ImageClassifier.ExecutionProvider"/>).
    /// </summary>
    public string Device { get; init; } = "cpu";

    /// <summary>Threads one inference call may use; 0 lets ONNX Runtime choose (one per core).</summary>
    public int IntraOpThreads { get; init; }

    /// <summary>
    /// Whether idle intra-op threads spin waiting for work. Off by default: in the scoring pipeline
    /// decode workers share the cores with inference, and spinning threads take their time.
    /// </summary>
    public bool AllowSpinning { get; init; }

    public GraphOptimizationLevel OptimizationLevel { get; init; } = GraphOptimizationLevel.ORT_ENABLE_ALL;

    /// <summary>Receives warnings such as a CUDA fallback (wire it to a logger).</summary>
    public Action<string>? Warning { get; init; }

    internal (string Kind, int DeviceId) ParseDevice()
    {
        var device = (Device ?? "cpu").Trim().ToLowerInvariant();
        if (device is "" or "cpu")
            return ("cpu", 0);
        if (device == "cuda" || device == "gpu")
            return ("cuda", 0);
        if (device.StartsWith("cuda:", StringComparison.Ordinal) && int.TryParse(device.AsSpan(5), out var id) && id >= 0)
            return ("cuda", id);
        throw new ArgumentException($"unknown device '{Device}': use cpu, cuda or cuda:N", nameof(Device));
    }
}
