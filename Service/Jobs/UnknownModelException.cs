namespace ConvNeXt.Batch.Service.Jobs;

/// <summary>A job names a model this worker cannot score with: HTTP 404 / exit 2, naming it.</summary>
public sealed class UnknownModelException(string reference) : Exception($"unknown model '{reference}'")
{
    public string Reference { get; } = reference;
}
