namespace ConvNeXt.Batch.Service.Validation;

/// <summary>A dataset that cannot be used (no images, no labels, unknown label source); maps to HTTP 400.</summary>
public sealed class DatasetException(string message) : Exception(message);
