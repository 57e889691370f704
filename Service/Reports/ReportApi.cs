using System.Globalization;
using System.Text;
using ConvNeXt.Batch.Service.Queries;
using ConvNeXt.Batch.Service.Services;

namespace ConvNeXt.Batch.Service.Reports;

/// <summary>What a report route answers, without any web framework: status, content type, body and extra headers.</summary>
public sealed record ReportResponse(int StatusCode, string ContentType, byte[] Body, IReadOnlyDictionary<string, string> Headers)
{
    public static ReportResponse Html(string html) => new(200, "text/html; charset=utf-8", Encoding.UTF8.GetBytes(html), new Dictionary<string, string>
    {
        ["Content-Security-Policy"] = HtmlReport.ContentSecurityPolicy,
        ["X-Content-Type-Options"] = "nosniff",
        ["Cache-Control"] = "no-store", // live tables
    });

    public static ReportResponse Jpeg(byte[] jpeg) => new(200, "image/jpeg", jpeg, new Dictionary<string, string>
    {
        ["X-Content-Type-Options"] = "nosniff",
        ["Cache-Control"] = "private, max-age=300",
    });

    /// <summary>A JSON <c>{ "error": "..." }</c> answer, as every other API route gives.</summary>
    public static ReportResponse Problem(int statusCode, string error) =>
        new(statusCode, "application/json; charset=utf-8", System.Text.Json.JsonSerializer.SerializeToUtf8Bytes(new { error }), new Dictionary<string, string>());
}

/// <summary>
/// The report routes, framework-free: a host binds each route to a method, passes the query string's values and
/// the key the request was authorized with, and writes the <see cref="ReportResponse"/>. Links inside the pages carry
/// that key as <c>code</c>, because a browser sends no header with an <c>&lt;img&gt;</c> request or a link.
/// </summary>
public sealed class ReportApi(ReportService reports, ThumbnailService thumbnails, ScoringEngine? engine = null)
{
    public const string JobReportRoute = "/api/scoring-jobs/{id}/report";

    public const string RunReportRoute = "/api/validation-runs/{id}/report";
    public const string CompareReportRoute = "/api/validation-runs/compare/report";
    public const string HistoryRoute = "/api/reports/history";
    public const string PredictionsRoute = "/api/predictions/report";
    public const string ThumbnailRoute = "/api/thumbnails/{container}/{**blob}";
    public const string KeyParameter = "code";

    private const string ThumbnailBase = "/api/thumbnails";

    public async Task<ReportResponse> RunReportAsync(string id, string? key, CancellationToken cancellationToken = default)
    {
        var labels = engine is { IsLoaded: true } ? (await engine.GetClassifierAsync(cancellationToken)).Labels : null;
        var html = await reports.ValidationRunAsync(id, new RouteImageLinks(ThumbnailBase, key), labels, cancellationToken);
        return html is null ? ReportResponse.Problem(404, "not found") : ReportResponse.Html(html);
    }

    /// <summary><c>GET /api/scoring-jobs/{id}/report</c>: the job page (status, counts, rate).</summary>
    public static async Task<ReportResponse> JobReportAsync(Jobs.ScoringJobService jobs, string id, string? key, CancellationToken cancellationToken = default) =>
        await jobs.GetAsync(id, cancellationToken) is { } job
            ? ReportResponse.Html(ScoringJobPage.Render(job, $"{PredictionsRoute}?container={Uri.EscapeDataString(job.Container)}{KeyQuery(key, '&')}"))
            : ReportResponse.Problem(404, $"no scoring job '{id}'");

    /// <summary><c>GET /api/validation-runs/compare/report?a=&amp;b=</c>: the paired comparison page.</summary>
    public async Task<ReportResponse> CompareReportAsync(Func<string, string?> query, string? key, CancellationToken cancellationToken = default)
    {
        if (Empty(query("a")) is not { } a || Empty(query("b")) is not { } b)
            return ReportResponse.Problem(400, "give the two run ids as a= and b=");
        try
        {
            return ReportResponse.Html(await reports.ComparisonAsync(a, b, new RouteImageLinks(ThumbnailBase, key),
                id => $"/api/validation-runs/{Uri.EscapeDataString(id)}/report{KeyQuery(key, '?')}", cancellationToken));
        }
        catch (RunNotFoundException e)
        {
            return ReportResponse.Problem(404, e.Message);
        }
        catch (RunsNotComparableException e)
        {
            return ReportResponse.Problem(400, e.Message);
        }
    }

    /// <param name="query">The request's query string values by name (null when absent).</param>
    public async Task<ReportResponse> HistoryAsync(Func<string, string?> query, string? key, CancellationToken cancellationToken = default) =>
        ReportResponse.Html(await reports.HistoryAsync(id => $"/api/validation-runs/{Uri.EscapeDataString(id)}/report{KeyQuery(key, '?')}",
            Empty(query("container")), Empty(query("prefix")), cancellationToken));

    public async Task<ReportResponse> PredictionsAsync(Func<string, string?> query, string? key, CancellationToken cancellationToken = default)
    {
        try
        {
            var filters = new PredictionQuery
            {
                Container = Empty(query("container")), Prefix = Empty(query("prefix")), Status = Empty(query("status")), Wnid = Empty(query("class")),
                ConfidenceBelow = Number(query("below"), "below"), Top = Integer(query("top"), "top"), ContinuationToken = Empty(query("continuationToken")),
            };
            var hidden = key is null ? new Dictionary<string, string>() : new Dictionary<string, string> { [KeyParameter] = key };
            return ReportResponse.Html(await reports.PredictionsAsync(filters, new RouteImageLinks(ThumbnailBase, key), q => PredictionsLink(q, key), hidden, cancellationToken));
        }
        catch (ArgumentException e)
        {
            return ReportResponse.Problem(400, e.Message);
        }
    }

    public async Task<ReportResponse> ThumbnailAsync(string container, string blob, CancellationToken cancellationToken = default)
    {
        try
        {
            return ReportResponse.Jpeg(await thumbnails.GetAsync(container, blob, cancellationToken));
        }
        catch (ThumbnailUnavailableException e)
        {
            return ReportResponse.Problem(404, e.Message);
        }
    }

    private static string? Empty(string? value) => string.IsNullOrEmpty(value) ? null : value;

    private static string KeyQuery(string? key, char separator) =>
        key is null ? "" : $"{separator}{KeyParameter}={Uri.EscapeDataString(key)}";

    private static double? Number(string? value, string name) =>
        string.IsNullOrEmpty(value) ? null
        : double.TryParse(value, NumberStyles.Float, CultureInfo.InvariantCulture, out var number) && double.IsFinite(number) ? number
        : throw new QueryArgumentException($"{name} must be a number");

    private static int? Integer(string? value, string name) =>
        string.IsNullOrEmpty(value) ? null
        : int.TryParse(value, NumberStyles.Integer, CultureInfo.InvariantCulture, out var number) ? number
        : throw new QueryArgumentException($"{name} must be an integer");

    private static string PredictionsLink(PredictionQuery q, string? key)
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
        Add(KeyParameter, key);
        return PredictionsRoute + "?" + string.Join('&', parts);
    }
}
