using System.Globalization;
using ConvNeXt.Batch.Service.Queries;
using ConvNeXt.Batch.Service.Reports;
using ConvNeXt.Batch.Service.Services;

namespace ConvNeXt.Batch.Service.Api;

/// <summary>
/// The report routes (<see cref="ApiRoutes.RunReport"/>, <see cref="ApiRoutes.History"/>, <see cref="ApiRoutes.PredictionsReport"/>,
/// <see cref="ApiRoutes.Thumbnail"/>) as plain calls, like <see cref="ServiceApi"/>: the host passes the query and where the page's links go
/// (<see cref="PageLinks"/>), and writes the <see cref="ApiResponse"/>. A browser sends no header with a link, so links and
/// forms from page to page go where <see cref="PageLinks"/> says (behind the Functions host: the anonymous mirror with a page
/// token), and thumbnail links carry a token for their one image: no URL a page makes holds the function key.
/// </summary>
public sealed class ReportApi(ReportService reports, ThumbnailService thumbnails, ScoringEngine engine, ReportLinkTokens tokens, Jobs.ScoringJobService jobs)
{
    /// <summary>Signs this host's thumbnail links; the thumbnail route checks them.</summary>
    public ReportLinkTokens Tokens { get; } = tokens;

    /// <summary><c>GET /</c>: the landing page, linking every report and the API.</summary>
    public ApiResponse Home(PageLinks links) => ApiResponse.Html(ReportNavigation.Home(links));

    public async Task<ApiResponse> RunReportAsync(string id, PageLinks links, CancellationToken cancellationToken = default)
    {
        var labels = engine.IsLoaded ? (await engine.GetClassifierAsync(cancellationToken)).Labels : null;
        var html = await reports.ValidationRunAsync(id, new RouteImageLinks(ApiRoutes.Thumbnails, Tokens), labels, cancellationToken);
        return html is null ? ApiResponse.NotFound() : ApiResponse.Html(ReportNavigation.WithBar(html, links));
    }

    public async Task<ApiResponse> HistoryAsync(ApiQuery query, PageLinks links, CancellationToken cancellationToken = default) =>
        ApiResponse.Html(ReportNavigation.WithBar(await reports.HistoryAsync(links,
            query["container"], query["prefix"], cancellationToken), links));

    public async Task<ApiResponse> PredictionsAsync(ApiQuery query, PageLinks links, CancellationToken cancellationToken = default)
    {
        try
        {
            var filters = new PredictionQuery
            {
                Container = query["container"], Prefix = query["prefix"], Status = query["status"], Wnid = query["class"],
                ConfidenceBelow = Number(query["below"], "below"), Top = query.Int("top"), ContinuationToken = query["continuationToken"],
            };
            return ApiResponse.Html(ReportNavigation.WithBar(
                await reports.PredictionsAsync(filters, new RouteImageLinks(ApiRoutes.Thumbnails, Tokens), q => links.To(PredictionsLink(q)), links, cancellationToken),
                links));
        }
        catch (ArgumentException e)
        {
            return ApiResponse.Problem(400, e.Message);
        }
    }

    /// <summary><c>GET /api/scoring-jobs/{id}/report</c>: the job page (status, counts, rate).</summary>
    public async Task<ApiResponse> JobReportAsync(string id, PageLinks links, CancellationToken cancellationToken = default) =>
        await jobs.GetAsync(id, cancellationToken) is { } job
            ? ApiResponse.Html(ReportNavigation.WithBar(
                ScoringJobPage.Render(job, links.To($"{ApiRoutes.PredictionsReport}?container={Uri.EscapeDataString(job.Container)}")), links))
            : ApiResponse.NotFound($"no scoring job '{id}'");

    /// <summary><c>GET /api/validation-runs/compare/report?a=&amp;b=</c>: the paired comparison page.</summary>
    public async Task<ApiResponse> CompareReportAsync(ApiQuery query, PageLinks links, CancellationToken cancellationToken = default)
    {
        if (query["a"] is not { } a || query["b"] is not { } b)
            return ApiResponse.Problem(400, "give the two run ids as a= and b=");
        try
        {
            return ApiResponse.Html(ReportNavigation.WithBar(await reports.ComparisonAsync(a, b, new RouteImageLinks(ApiRoutes.Thumbnails, Tokens),
                id => links.To(RunHistoryPage.RunReport(id)), cancellationToken), links));
        }
        catch (RunNotFoundException e)
        {
            return ApiResponse.NotFound(e.Message);
        }
        catch (RunsNotComparableException e)
        {
            return ApiResponse.Problem(400, e.Message);
        }
    }

    public async Task<ApiResponse> ThumbnailAsync(string container, string blob, CancellationToken cancellationToken = default)
    {
        try
        {
            return ApiResponse.Jpeg(await thumbnails.GetAsync(container, blob, cancellationToken));
        }
        catch (ThumbnailUnavailableException e)
        {
            return ApiResponse.NotFound(e.Message);
        }
    }

    private static double? Number(string? value, string name) =>
        value is null ? null
        : double.TryParse(value, NumberStyles.Float, CultureInfo.InvariantCulture, out var number) && double.IsFinite(number) ? number
        : throw new QueryArgumentException($"{name} must be a number");

    private static string PredictionsLink(PredictionQuery q)
    {
        var parts = new List<string>();
        void Add(string name, string? value)
        {
            if (!string.IsNullOrEmpty(value))
                parts.Add($"{name}={Uri.EscapeDataString(value)}");
        }
        Add("container", q.Container);
        Add("prefix", q.Prefix);
        Add("status", q.Status);
        Add("class", q.Wnid);
        Add("below", q.ConfidenceBelow?.ToString(CultureInfo.InvariantCulture));
        Add("top", q.Top?.ToString(CultureInfo.InvariantCulture));
        Add("continuationToken", q.ContinuationToken);
        return ApiRoutes.PredictionsReport + "?" + string.Join('&', parts);
    }
}
