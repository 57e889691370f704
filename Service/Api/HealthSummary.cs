namespace ConvNeXt.Batch.Service.Api;

/// <summary>What an anonymous caller of <c>GET /api/health</c> learns: the status alone (model, hashes and storage errors need a key).</summary>
public sealed record HealthSummary(string Status);
