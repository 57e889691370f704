namespace ConvNeXt.Batch.Scoring.Inference;

/// <summary>An ONNX file cannot serve as an image classifier (unreadable, wrong inputs, labels that do not fit).</summary>
public sealed class ModelLoadException : Exception
{
    public ModelLoadException(string message, Exception? inner = null) : base(message, inner) { }
}
