using Microsoft.ML.OnnxRuntime;

namespace ConvNeXt.Batch.Scoring.Inference;

/// <summary>How an <see cref="ImageClassifier"/> runs its ONNX Runtime session.</summary>
public sealed record InferenceOptions
{
    /// <summary>
    /// <c>cpu</c>, <c>cuda</c>, <c>cuda:N</c>, <c>gpu</c> or <c>auto</c> (see <see cref="InferenceDevice"/>). CUDA is requested from ONNX Runtime;
    /// when this build or machine cannot provide it, loading throws <see cref="ExecutionProviderException"/>, except with <c>auto</c>, which
    /// warns and runs on CPU (see <see cref="ImageClassifier.ExecutionProvider"/>).
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

    /// <summary>
    /// When set, ONNX Runtime's profiler records every node run into <c>PREFIX_&lt;time&gt;.json</c>;
    /// <see cref="ImageClassifier.EndProfiling"/> closes the file and returns its path.
    /// </summary>
    public string? ProfilePrefix { get; init; }

    /// <summary>Receives warnings such as a CUDA fallback (wire it to a logger).</summary>
    public Action<string>? Warning { get; init; }

    /// <exception cref="ArgumentException"><see cref="Device"/> is not a device name.</exception>
    internal InferenceDevice ParseDevice() => InferenceDevice.Parse(Device);
}
