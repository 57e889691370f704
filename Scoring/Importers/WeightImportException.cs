namespace ConvNeXt.Batch.Scoring.Importers;

/// <summary>A checkpoint that cannot become a ConvNeXt model: unreadable, or a tensor missing, unknown or misshapen.</summary>
public sealed class WeightImportException : Exception
{
    public WeightImportException(string message, string? tensorName = null, Exception? inner = null)
        : base(message, inner) => TensorName = tensorName;

    /// <summary>The tensor at fault, as named in the checkpoint, when one is.</summary>
    public string? TensorName { get; }
}
