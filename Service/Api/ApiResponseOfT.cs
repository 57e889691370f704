namespace ConvNeXt.Batch.Service.Api;

/// <summary>An answer that also carries what the host must do next (e.g. the chunk messages of a new run).</summary>
public sealed record ApiResponse<T>(ApiResponse Response, T? Value) where T : class;
