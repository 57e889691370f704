namespace ConvNeXt.Batch.Service.Jobs;

/// <summary>A job request that cannot be started (container outside the allow-list, missing, bad prefix): permanent, HTTP 400 / exit 2.</summary>
public sealed class JobRequestException(string message) : Exception(message);
