namespace ConvNeXt.Batch.Cli.Fetching;

/// <summary>The one folder downloaded weights are kept in.</summary>
public static class WeightsCache
{
    public const string EnvironmentVariable = "CONVNEXT_CACHE_DIR";

    /// <summary><c>$CONVNEXT_CACHE_DIR</c>, else <c>~/.cache/convnext-batch</c>.</summary>
    public static string DefaultDirectory =>
        Environment.GetEnvironmentVariable(EnvironmentVariable) is { Length: > 0 } configured ? configured
            : Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".cache", "convnext-batch");

    /// <summary>Where <paramref name="weights"/> lands in <paramref name="directory"/> (default: <see cref="DefaultDirectory"/>).</summary>
    public static string PathOf(PublishedWeights weights, string? directory = null) =>
        Path.Combine(directory ?? DefaultDirectory, weights.FileName);
}
