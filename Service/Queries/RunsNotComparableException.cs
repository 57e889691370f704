namespace ConvNeXt.Batch.Service.Queries;

/// <summary>
/// Two runs that cannot be compared image by image (different datasets, not completed): bad input, permanent —
/// HTTP 400, CLI exit code 2, never retried.
/// </summary>
public sealed class RunsNotComparableException(string message) : ArgumentException(message);
