namespace ConvNeXt.Batch.Service.Models;

/// <summary>The model repository and the workers' cache of loaded models (<c>Models</c> section).</summary>
public sealed class ModelRepositoryOptions
{
    public const string Section = "Models";

    /// <summary>Models kept loaded at once; the least recently used one is unloaded first (on a GPU each costs device memory).</summary>
    public int MaxLoaded { get; set; } = 2;

    /// <summary>How long an alias row (<c>default → NAME@V</c>) is trusted before it is read again: a promote reaches every worker within this.</summary>
    public int AliasCacheSeconds { get; set; } = 10;

    /// <summary>Where downloaded model files are kept (default: a folder under the temp directory).</summary>
    public string? CacheDirectory { get; set; }
}
