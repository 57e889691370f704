namespace ConvNeXt.Batch.Service.Models;

/// <summary>What <c>model push</c> uploads.</summary>
public sealed record ModelPushRequest
{
    public required string File { get; init; }
    public required ModelReference Reference { get; init; }
    /// <summary>Preset for a model that carries no preprocessing (e.g. <c>caffe</c> for SqueezeNet).</summary>
    public string? Preprocessing { get; init; }
    /// <summary>A local label table pushed beside the model, for a model that carries no labels.</summary>
    public string? LabelsFile { get; init; }
    /// <summary>Overrides what the model's metadata says (a model without metadata counts as trained).</summary>
    public bool? Trained { get; init; }
    public string? PushedBy { get; init; }
}
