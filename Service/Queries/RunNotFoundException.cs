namespace ConvNeXt.Batch.Service.Queries;

/// <summary>A validation run named in a request does not exist: HTTP 404, CLI exit code 2, naming it.</summary>
public sealed class RunNotFoundException(string runId) : Exception($"no validation run '{runId}'")
{
    public string RunId { get; } = runId;
}
