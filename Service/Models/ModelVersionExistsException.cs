namespace ConvNeXt.Batch.Service.Models;

/// <summary>A push named a version that is already in the repository: versions are immutable, so it is refused.</summary>
public sealed class ModelVersionExistsException(string message) : Exception(message);
