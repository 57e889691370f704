namespace ConvNeXt.Batch.Service.Models;

/// <summary>
/// The repository has no such model, version or alias: permanent (bad input). The API answers 404 and the
/// CLI exits 2, both with this message, which names the reference.
/// </summary>
public sealed class ModelNotFoundException(string message) : Exception(message);
