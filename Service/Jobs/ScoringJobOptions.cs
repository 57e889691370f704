namespace ConvNeXt.Batch.Service.Jobs;

/// <summary>Scoring job settings (<c>ScoringJobs</c> section).</summary>
public sealed class ScoringJobOptions
{
    public const string Section = "ScoringJobs";

    /// <summary>Containers a job may score; any other is refused (HTTP 400). Default: <c>images</c>.</summary>
    public string[] AllowedContainers { get; set; } = [Storage.ContainerNames.Images];

    /// <summary>Blobs per chunk: one listing page each.</summary>
    public int ChunkSize { get; set; } = 100;

    /// <summary>
    /// Listing pages one planner invocation reads before it hands on a continuation message: bounds its time (and
    /// the chunk messages it sends) whatever the container's size.
    /// </summary>
    public int PagesPerStep { get; set; } = 20;
}
