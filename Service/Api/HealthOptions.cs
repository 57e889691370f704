namespace ConvNeXt.Batch.Service.Api;

/// <summary>The health check (<c>Health</c> section).</summary>
public sealed class HealthOptions
{
    public const string Section = "Health";

    /// <summary>How long one check's answer is reused (0: every request checks; the anonymous endpoint should not).</summary>
    public double CacheSeconds { get; set; } = ServiceHealth.DefaultCacheDuration.TotalSeconds;
}
