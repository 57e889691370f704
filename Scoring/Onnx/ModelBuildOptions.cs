using ConvNeXt.Batch.Scoring.Labels;
using ConvNeXt.Batch.Scoring.Models;
using ConvNeXt.Batch.Scoring.Preprocessing;

namespace ConvNeXt.Batch.Scoring.Onnx;

/// <summary>Element type of the weights and of the computation inside the graph.</summary>
public enum ModelPrecision
{
    Fp32,
    /// <summary>
    /// Weights and activations in float16 (for GPUs); the graph's input and output stay float32, and
    /// LayerNormalization accumulates its statistics in float32 (stash_type 1).
    /// </summary>
    Fp16,
}

public sealed record ModelBuildOptions
{
    public ModelPrecision Precision { get; init; } = ModelPrecision.Fp32;

    /// <summary>Class labels recorded in the file; their count must equal the head's.</summary>
    public ClassLabels? Labels { get; init; }

    /// <summary>Preprocessing recorded in the file; <c>null</c> picks the weights' convention (timm, MindCV, torchvision).</summary>
    public PreprocessingSettings? Preprocessing { get; init; }

    /// <summary>Published accuracy recorded in the file; <c>null</c> picks a known figure for trained weights.</summary>
    public ReferenceAccuracy? ReferenceAccuracy { get; init; }

    /// <summary>Fixes the input's height and width; <c>null</c> leaves them symbolic (any size divisible by 32).</summary>
    public int? ImageSize { get; init; }
}
