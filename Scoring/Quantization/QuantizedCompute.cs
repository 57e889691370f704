using ConvNeXt.Batch.Scoring.Onnx.Proto;

namespace ConvNeXt.Batch.Scoring.Quantization;

/// <summary>
/// One Conv/MatMul/Gemm of a rewritten QDQ graph: the node, the name its output had in the float
/// graph (before a folded Relu took its place), and its int32 bias initializer with the bias's
/// per-channel scales (<c>null</c> when the node has no bias input).
/// </summary>
internal sealed record QuantizedCompute(NodeProto Node, string FloatOutput, string? Bias, float[]? BiasScales);
