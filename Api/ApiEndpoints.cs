using ConvNeXt.Batch.Service.Api;
using ConvNeXt.Batch.Service.Contracts;
using ConvNeXt.Batch.Service.Reports;
using ConvNeXt.Batch.Service.Services;
using ConvNeXt.Batch.Service.Storage;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;

namespace ConvNeXt.Batch.Api;

/// <summary>
/// The one route table of the HTTP API, mapped by the Functions handler and by <c>convnext-batch serve</c>. What a request
/// means is <see cref="ServiceApi"/>'s and <see cref="ReportApi"/>'s; here each route is bound, the host's
/// <see cref="IApiAccess"/> is asked, and every answer and failure is written the same way on both hosts.
/// </summary>
public static class ApiEndpoints
{
    /// <summary>
    /// Maps the API's routes. The host's services hold <see cref="ServiceApi"/> and <see cref="ReportApi"/>
    /// (<c>AddConvNeXtBatch</c>), optionally an <see cref="IApiAccess"/> and an <see cref="IValidationChunkSink"/>.
    /// </summary>
    /// <returns>The group of API routes, for a host to add its own filters to.</returns>
    public static RouteGroupBuilder MapConvNeXtBatchApi(this IEndpointRouteBuilder endpoints)
    {
        ArgumentNullException.ThrowIfNull(endpoints);
        var api = endpoints.MapGroup("");
        api.AddEndpointFilter(ProblemsAsync);

        // Anonymous: the status alone; the whole report (model, sha256, storage errors) needs the key.
        api.MapGet(ApiRoutes.Health, async (ServiceApi s, CancellationToken ct) => Write(await s.HealthAsync(details: false, ct)));

        var keyed = api.MapGroup("");
        keyed.AddEndpointFilter(AuthorizeAsync);
        keyed.MapGet(ApiRoutes.HealthDetails, async (ServiceApi s, CancellationToken ct) => Write(await s.HealthAsync(details: true, ct)));
        keyed.MapGet(ApiRoutes.Predictions, async (HttpRequest r, ServiceApi s, CancellationToken ct) =>
            Write(await s.ListPredictionsAsync(QueryOf(r), ct)));
        keyed.MapGet(ApiRoutes.Prediction, async (string container, string blob, ServiceApi s, CancellationToken ct) =>
            Write(await s.GetPredictionAsync(container, blob, ct)));
        keyed.MapGet(ApiRoutes.ValidationRuns, async (HttpRequest r, ServiceApi s, CancellationToken ct) =>
            Write(await s.ListValidationRunsAsync(QueryOf(r), ct)));
        if (endpoints.ServiceProvider.GetService<IValidationChunkSink>() is not null)
            keyed.MapPost(ApiRoutes.ValidationRuns, async (HttpRequest r, ServiceApi s, IValidationChunkSink sink, CancellationToken ct) =>
            {
                using var reader = new StreamReader(r.Body);
                var created = await s.CreateValidationRunAsync(await reader.ReadToEndAsync(ct), "http", ct);
                if (created.Value is { } plan)
                    sink.Send(plan);
                return Write(created.Response);
            });
        keyed.MapGet(ApiRoutes.ValidationRun, async (string id, HttpRequest r, ServiceApi s, CancellationToken ct) =>
            Write(await s.GetValidationRunAsync(id, QueryOf(r), ct)));
        keyed.MapGet(ApiRoutes.ValidationRunsCompare, async (HttpRequest r, ServiceApi s, CancellationToken ct) =>
            Write(await s.CompareValidationRunsAsync(QueryOf(r), ct)));

        if (endpoints.ServiceProvider.GetService<IScoringJobSink>() is not null)
            keyed.MapPost(ScoringJobApi.JobsRoute, async (HttpRequest r, ScoringJobApi jobs, IScoringJobSink sink, CancellationToken ct) =>
            {
                using var reader = new StreamReader(r.Body);
                var started = await jobs.StartAsync(await reader.ReadToEndAsync(ct), ct);
                if (started.Value is { } first)
                    sink.Start(first);
                return Write(started.Response);
            });
        keyed.MapGet(ScoringJobApi.JobsRoute, async (HttpRequest r, ScoringJobApi jobs, CancellationToken ct) => Write(await jobs.ListAsync(QueryOf(r), ct)));
        keyed.MapGet(ScoringJobApi.JobRoute, async (string id, ScoringJobApi jobs, CancellationToken ct) => Write(await jobs.GetAsync(id, ct)));
        keyed.MapPost(ScoringJobApi.CancelRoute, async (string id, ScoringJobApi jobs, CancellationToken ct) => Write(await jobs.CancelAsync(id, ct)));

        // The report pages: at their routes with the key, and at the anonymous mirror (PageLinks) with a page's token,
        // which is where a page's own links go.
        var pages = api.MapGroup("");
        pages.AddEndpointFilter(AuthorizePageAsync);
        void MapPage(string route, Delegate handler)
        {
            keyed.MapGet(route, handler);
            pages.MapGet(PageLinks.Mirror(route), handler);
        }
        MapPage(ApiRoutes.RunReport, async (string id, HttpRequest r, ReportApi reports, CancellationToken ct) =>
            Write(await reports.RunReportAsync(id, LinksOf(r), ct)));
        MapPage(ApiRoutes.History, async (HttpRequest r, ReportApi reports, CancellationToken ct) =>
            Write(await reports.HistoryAsync(QueryOf(r), LinksOf(r), ct)));
        MapPage(ApiRoutes.PredictionsReport, async (HttpRequest r, ReportApi reports, CancellationToken ct) =>
            Write(await reports.PredictionsAsync(QueryOf(r), LinksOf(r), ct)));
        MapPage(ApiRoutes.CompareReport, async (HttpRequest r, ReportApi reports, CancellationToken ct) =>
            Write(await reports.CompareReportAsync(QueryOf(r), LinksOf(r), ct)));
        MapPage(ApiRoutes.JobReport, async (string id, HttpRequest r, ReportApi reports, CancellationToken ct) =>
            Write(await reports.JobReportAsync(id, LinksOf(r), ct)));

        keyed.MapGet(ApiRoutes.Thumbnail, async (string container, string blob, ReportApi reports, CancellationToken ct) =>
            Write(await reports.ThumbnailAsync(container, blob, ct)));
        return api;
    }

    /// <summary>The query string as <see cref="ServiceApi"/> and <see cref="ReportApi"/> read it.</summary>
    public static ApiQuery QueryOf(HttpRequest request) =>
        new(request.Query.Select(q => new KeyValuePair<string, string?>(q.Key, q.Value.ToString())));

    /// <summary>An answer as the HTTP response: JSON with the contract's options, or its content as it is.</summary>
    public static IResult Write(ApiResponse response) =>
        response.Content is { } content
            ? new ContentResult(response.StatusCode, content)
            : Results.Json(response.Body, ContractJson.Options, statusCode: response.StatusCode);

    /// <summary>A problem answer (<see cref="ApiProblem"/>), as every route writes one.</summary>
    public static IResult Problem(int statusCode, string error) => Write(ApiResponse.Problem(statusCode, error));

    /// <summary>Where a page's links go: the host's page token, or the routes themselves on a host without access checks.</summary>
    public static PageLinks LinksOf(HttpRequest request)
    {
        ArgumentNullException.ThrowIfNull(request);
        return request.HttpContext.RequestServices.GetService<IApiAccess>() is { } access ? PageLinks.Signed(() => access.PageToken(request)) : PageLinks.Direct;
    }

    private static async ValueTask<object?> AuthorizeAsync(EndpointFilterInvocationContext context, EndpointFilterDelegate next)
    {
        var request = context.HttpContext.Request;
        if (context.HttpContext.RequestServices.GetService<IApiAccess>() is { } access && !access.IsAuthorized(request))
            return Problem(StatusCodes.Status401Unauthorized, "a function key is required");
        return await next(context);
    }

    private static async ValueTask<object?> AuthorizePageAsync(EndpointFilterInvocationContext context, EndpointFilterDelegate next)
    {
        var request = context.HttpContext.Request;
        if (context.HttpContext.RequestServices.GetService<IApiAccess>() is { } access && !access.IsPageAuthorized(request))
            return Problem(StatusCodes.Status401Unauthorized, "a report page's link token is required (open the page with the function key)");
        return await next(context);
    }

    /// <summary>A failure the API does not classify (storage down, model missing) is a 503/500 with its reason, not an empty 500.</summary>
    private static async ValueTask<object?> ProblemsAsync(EndpointFilterInvocationContext context, EndpointFilterDelegate next)
    {
        var http = context.HttpContext;
        try
        {
            return await next(context);
        }
        catch (Exception e) when (!http.Response.HasStarted && !http.RequestAborted.IsCancellationRequested)
        {
            var unavailable = StorageFailures.IsTransient(e) || e is StorageUnavailableException;
            var message = string.Join(' ', e.Message.Split(['\r', '\n'], StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries));
            return unavailable
                ? Problem(StatusCodes.Status503ServiceUnavailable, $"storage unavailable: {message}")
                : Problem(StatusCodes.Status500InternalServerError, message);
        }
    }

    /// <summary>Bytes with their content type and headers (a report page, a thumbnail).</summary>
    private sealed class ContentResult(int statusCode, ApiContent content) : IResult
    {
        public async Task ExecuteAsync(HttpContext httpContext)
        {
            httpContext.Response.StatusCode = statusCode;
            httpContext.Response.ContentType = content.ContentType;
            foreach (var (name, value) in content.Headers)
                httpContext.Response.Headers[name] = value;
            await httpContext.Response.Body.WriteAsync(content.Bytes, httpContext.RequestAborted);
        }
    }
}
