using System.Text;

namespace ConvNeXt.Batch.Service.Reports;

/// <summary>
/// The navigation bar every report page carries, and the landing page at <c>/</c> that lists the same places.
/// One list: a page added elsewhere (models, jobs) adds its entry here and appears on every page.
/// </summary>
public static class ReportNavigation
{
    public const string HomeRoute = "/";

    /// <summary>Label, path and what is there, in bar order.</summary>
    public static IReadOnlyList<(string Label, string Path, string Description)> Entries { get; } =
    [
        ("Home", HomeRoute, "this page"),
        ("Run history", Api.ApiRoutes.History, "top-1 and top-5 of every validation run, per dataset and model, with flagged drops"),
        ("Predictions", Api.ApiRoutes.PredictionsReport, "browse scored images with thumbnails; filter by container, prefix, class, confidence"),
        ("Runs (JSON)", "/api/validation-runs", "validation runs as the API lists them; each run's report is at /api/validation-runs/{id}/report, and the history compares each run with the one before"),
        ("Jobs (JSON)", "/api/scoring-jobs", "scoring jobs (backfills of stored images) as the API lists them; each job's page is at /api/scoring-jobs/{id}/report"),
        ("Health", "/api/health", "model, storage endpoints"),
    ];

    public static string Bar(PageLinks links)
    {
        ArgumentNullException.ThrowIfNull(links);
        var html = new StringBuilder("<nav class=\"site\">");
        foreach (var (label, path, _) in Entries)
            html.Append("<a href=\"").Append(HtmlReport.E(Href(path, links))).Append("\">").Append(HtmlReport.E(label)).Append("</a>");
        return html.Append("</nav>").ToString();
    }

    /// <summary>The page with the bar at the top of its body.</summary>
    public static string WithBar(string page, PageLinks links)
    {
        ArgumentNullException.ThrowIfNull(page);
        var body = page.IndexOf("<body>", StringComparison.Ordinal);
        return body < 0 ? page : page.Insert(body + "<body>".Length, Bar(links));
    }

    /// <summary>The landing page: where everything is, as links.</summary>
    public static string Home(PageLinks links)
    {
        var body = new StringBuilder("<h1>ConvNeXt.Batch</h1><p class=\"meta\">Batch scoring and validation runs. Reports and the API:</p><ul id=\"home-links\">");
        foreach (var (label, path, description) in Entries.Skip(1))
            body.Append("<li><a href=\"").Append(HtmlReport.E(Href(path, links))).Append("\">").Append(HtmlReport.E(label)).Append("</a>: ")
                .Append(HtmlReport.E(description)).Append("</li>");
        body.Append("</ul>");
        return WithBar(HtmlReport.Document("ConvNeXt.Batch", body.ToString()), links);
    }

    /// <summary>A page's token opens report pages only; the JSON routes and home would refuse it, so their links go as they are (for the key's holder).</summary>
    private static string Href(string path, PageLinks links) =>
        path is Api.ApiRoutes.History or Api.ApiRoutes.PredictionsReport ? links.To(path) : path;
}
