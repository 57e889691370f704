namespace ConvNeXt.Batch.Scoring.Importers;

/// <summary>What a build needs to know about a set of weights, whatever the architecture family.</summary>
public interface IClassifierWeights
{
    /// <summary>e.g. <c>convnext_tiny</c>, <c>inception_next_tiny</c>: the metadata's architecture.</summary>
    string Architecture { get; }
    int Classes { get; }
    /// <summary>Learned parameters, counted as the architecture's authors count them.</summary>
    long ParameterCount { get; }
    bool Trained { get; }
    /// <summary>timm, torchvision, hf, mindspore or random.</summary>
    string WeightsFormatName { get; }
    /// <summary>Lower-case hex SHA-256 of the weights file; <c>null</c> when there was no file.</summary>
    string? Sha256 { get; }
}
