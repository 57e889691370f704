namespace ConvNeXt.Batch.Scoring.Inference;

/// <summary>One class of a prediction: its index in the model output, its label when known, its softmax probability.</summary>
public sealed record ClassScore(int Index, string? Wnid, string? Name, float Probability);
