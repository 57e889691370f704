using ConvNeXt.Batch.Service.Reports;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;

namespace ConvNeXt.Batch.Functions.Handler;

/// <summary>Binds the report routes (<see cref="ReportApi"/>, framework-free) to ASP.NET Core and writes their answers.</summary>
public static class ReportRoutes
{
    public static void Map(WebApplication app)
    {
        app.MapGet(ReportApi.RunReportRoute, async (string id, HttpContext http, ReportApi api, CancellationToken ct) =>
            await WriteAsync(http, await api.RunReportAsync(id, Key(http.Request), ct)));
        app.MapGet(ReportApi.CompareReportRoute, async (HttpContext http, ReportApi api, CancellationToken ct) =>
            await WriteAsync(http, await api.CompareReportAsync(name => http.Request.Query[name], Key(http.Request), ct)));
        app.MapGet(ReportApi.JobReportRoute, async (string id, HttpContext http, Service.Jobs.ScoringJobService jobs, CancellationToken ct) =>
            await WriteAsync(http, await ReportApi.JobReportAsync(jobs, id, Key(http.Request), ct)));
        app.MapGet(ReportApi.HistoryRoute, async (HttpContext http, ReportApi api, CancellationToken ct) =>
            await WriteAsync(http, await api.HistoryAsync(name => http.Request.Query[name], Key(http.Request), ct)));
        app.MapGet(ReportApi.PredictionsRoute, async (HttpContext http, ReportApi api, CancellationToken ct) =>
            await WriteAsync(http, await api.PredictionsAsync(name => http.Request.Query[name], Key(http.Request), ct)));
        app.MapGet(ReportApi.ThumbnailRoute, async (string container, string blob, HttpContext http, ReportApi api, CancellationToken ct) =>
            await WriteAsync(http, await api.ThumbnailAsync(container, blob, ct)));
    }

    /// <summary>The key the request was authorized with (query <c>code</c> or the <c>x-functions-key</c> header), carried into the page's links.</summary>
    private static string? Key(HttpRequest request) =>
        request.Query[FunctionKeys.QueryName] is { Count: > 0 } q && !string.IsNullOrEmpty(q[0]) ? q[0]
        : request.Headers[FunctionKeys.HeaderName] is { Count: > 0 } h && !string.IsNullOrEmpty(h[0]) ? h[0]
        : null;

    private static async Task<IResult> WriteAsync(HttpContext http, ReportResponse response)
    {
        http.Response.StatusCode = response.StatusCode;
        http.Response.ContentType = response.ContentType;
        foreach (var (name, value) in response.Headers)
            http.Response.Headers[name] = value;
        await http.Response.Body.WriteAsync(response.Body, http.RequestAborted);
        return Results.Empty;
    }
}
