namespace ConvNeXt.Batch.Service.Jobs;

/// <summary>Scoring job settings (<c>ScoringJobs</c> section).</summary>
public sealed class ScoringJobOptions
{
    public const string Section = "ScoringJobs";

    /// <summary>
    /// Containers a job may score; any other is refused (HTTP 400). Unset: <c>images</c>. No array initializer: the
    /// configuration binder appends to one, so a configured list could not narrow it.
    /// </summary>
    public string[]? AllowedContainers { get; set; }

    /// <summary>The configured containers, or <c>images</c> when none is configured.</summary>
    public IReadOnlyList<string> Allowed() => AllowedContainers is { Length: > 0 } configured ? configured : [Storage.ContainerNames.Images];

    /// <summary>Blobs per chunk: one listing page each.</summary>
    public int ChunkSize { get; set; } = 100;

    /// <summary>
    /// Listing pages one planner invocation reads before it hands on a continuation message: bounds its time (and
    /// the chunk messages it sends) whatever the container's size.
    /// </summary>
    public int PagesPerStep { get; set; } = 20;
}
