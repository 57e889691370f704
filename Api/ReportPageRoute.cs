namespace ConvNeXt.Batch.Api;

/// <summary>
/// Marks the HTML report routes (not the JSON ones), so a host's <see cref="IApiAccess"/> can let a report page's link
/// token through there and nowhere else.
/// </summary>
public sealed class ReportPageRoute
{
    public static ReportPageRoute Instance { get; } = new();

    private ReportPageRoute()
    {
    }
}
