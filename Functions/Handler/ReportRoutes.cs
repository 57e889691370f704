using System.Globalization;
using ConvNeXt.Batch.Service.Queries;
using ConvNeXt.Batch.Service.Reports;
using ConvNeXt.Batch.Service.Services;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;

namespace ConvNeXt.Batch.Functions.Handler;

/// <summary>
/// The HTML report routes and the thumbnails they show. The pages are rendered by <see cref="ReportService"/>;
/// this only reads the request and writes the response. Thumbnail links carry the key the page was opened with,
/// because a browser sends no header with an <c>&lt;img&gt;</c> request.
/// </summary>
public static class ReportRoutes
{
    public static void Map(WebApplication app)
    {
        app.MapGet("/api/validation-runs/{id}/report", async (string id, HttpRequest r, ReportService reports, ScoringEngine engine, CancellationToken ct) =>
        {
            var labels = engine.IsLoaded ? (await engine.GetClassifierAsync(ct)).Labels : null;
            var html = await reports.ValidationRunAsync(id, new RouteImageLinks(ThumbnailRoute, Key(r)), labels, ct);
            return html is null ? Results.NotFound(new { error = "not found" }) : Page(html);
        });
        app.MapGet("/api/reports/history", async (HttpRequest r, ReportService reports, CancellationToken ct) =>
        {
            var key = Key(r);
            return Page(await reports.HistoryAsync(id => $"/api/validation-runs/{Uri.EscapeDataString(id)}/report{KeyQuery(key, '?')}",
                r.Query["container"], r.Query["prefix"], ct));
        });
        app.MapGet("/api/predictions/report", async (HttpRequest r, ReportService reports, CancellationToken ct) =>
        {
            var key = Key(r);
            try
            {
                var query = new PredictionQuery
                {
                    Container = r.Query["container"], Prefix = Empty(r.Query["prefix"]), Status = Empty(r.Query["status"]), Wnid = Empty(r.Query["class"]),
                    ConfidenceBelow = Number(r.Query["below"], "below"), Top = (int?)Number(r.Query["top"], "top"), ContinuationToken = Empty(r.Query["continuationToken"]),
                };
                var hidden = key is null ? new Dictionary<string, string>() : new Dictionary<string, string> { [FunctionKeys.QueryName] = key };
                return Page(await reports.PredictionsAsync(query, new RouteImageLinks(ThumbnailRoute, key), q => PredictionsLink(q, key), hidden, ct));
            }
            catch (ArgumentException e)
            {
                return Results.BadRequest(new { error = e.Message });
            }
        });
        app.MapGet(ThumbnailRoute + "/{container}/{**blob}", async (string container, string blob, HttpResponse response, ThumbnailService thumbnails, CancellationToken ct) =>
        {
            try
            {
                var jpeg = await thumbnails.GetAsync(container, blob, ct);
                response.Headers.CacheControl = "private, max-age=300";
                response.Headers["X-Content-Type-Options"] = "nosniff";
                return Results.File(jpeg, "image/jpeg");
            }
            catch (ThumbnailUnavailableException e)
            {
                return Results.NotFound(new { error = e.Message });
            }
        });
    }

    private const string ThumbnailRoute = "/api/thumbnails";

    private static IResult Page(string html) => new HtmlPageResult(html);

    private static string? Key(HttpRequest r) =>
        Empty(r.Query[FunctionKeys.QueryName]) ?? Empty(r.Headers[FunctionKeys.HeaderName]);

    private static string? Empty(string? value) => string.IsNullOrEmpty(value) ? null : value;

    private static string KeyQuery(string? key, char separator) =>
        key is null ? "" : $"{separator}{FunctionKeys.QueryName}={Uri.EscapeDataString(key)}";

    private static double? Number(string? value, string name) =>
        string.IsNullOrEmpty(value) ? null
        : double.TryParse(value, NumberStyles.Float, CultureInfo.InvariantCulture, out var number) && double.IsFinite(number) ? number
        : throw new QueryArgumentException($"{name} must be a number");

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
        Add(FunctionKeys.QueryName, key);
        return "/api/predictions/report?" + string.Join('&', parts);
    }

    /// <summary>An HTML page with the report's Content-Security-Policy, never cached (it shows live tables).</summary>
    private sealed class HtmlPageResult(string html) : IResult
    {
        public Task ExecuteAsync(HttpContext context)
        {
            context.Response.ContentType = "text/html; charset=utf-8";
            context.Response.Headers.ContentSecurityPolicy = HtmlReport.ContentSecurityPolicy;
            context.Response.Headers["X-Content-Type-Options"] = "nosniff";
            context.Response.Headers.CacheControl = "no-store";
            return context.Response.WriteAsync(html, context.RequestAborted);
        }
    }
}
