using ConvNeXt.Batch.Service.Storage;

namespace ConvNeXt.Batch.Service.Reports;

/// <summary>Report settings (<c>Reports</c> section).</summary>
public sealed class ReportOptions
{
    public const string Section = "Reports";

    /// <summary>
    /// Containers whose images may be shown as thumbnails; unset means <c>images</c> and <c>validation</c>
    /// (<see cref="AllowedThumbnailContainers"/>). No array initializer: the configuration binder appends to one,
    /// so <c>Reports__ThumbnailContainers__0=images</c> would still allow <c>validation</c>.
    /// </summary>
    public string[]? ThumbnailContainers { get; set; }

    /// <summary>The configured containers, or <c>images</c> and <c>validation</c> when none is configured.</summary>
    public IReadOnlySet<string> AllowedThumbnailContainers() => new HashSet<string>(
        ThumbnailContainers is { Length: > 0 } configured ? configured : [ContainerNames.Images, ContainerNames.Validation], StringComparer.Ordinal);

    /// <summary>Longest side of a thumbnail, in pixels.</summary>
    public int ThumbnailSize { get; set; } = 112;

    /// <summary>Classes on the per-class chart (the worst ones; the full table follows it).</summary>
    public int WorstClasses { get; set; } = 30;

    /// <summary>Most-confused pairs shown, and misclassified images shown for each.</summary>
    public int ConfusedPairs { get; set; } = 8;

    public int ImagesPerPair { get; set; } = 3;

    /// <summary>Rows per page of the predictions browser when the request names none.</summary>
    public int PageSize { get; set; } = 50;

    /// <summary>
    /// Base64 key (16 bytes or more) that signs report links (<see cref="ReportLinkTokens"/>); unset, the Functions handler
    /// shares one kept in storage (<see cref="StoredLinkSigningKey"/>) and <c>serve</c> makes a random one.
    /// </summary>
    public string? LinkSigningKey { get; set; }

    /// <summary>How long a page's thumbnail links stay valid.</summary>
    public TimeSpan LinkLifetime { get; set; } = TimeSpan.FromMinutes(15);
}
