using ConvNeXt.Batch.Api;
using ConvNeXt.Batch.Service.Reports;
using Microsoft.AspNetCore.Http;

namespace ConvNeXt.Batch.Functions.Handler;

/// <summary>
/// The handler's check on the API routes reached directly: the function key (<see cref="HandlerOptions.FunctionKey"/>);
/// for a thumbnail, a report page's signed link to that one image (<see cref="ThumbnailAccess"/>); for a report page
/// (<see cref="ReportPageRoute"/>), a page's signed link to the report pages. The report functions are anonymous at the
/// host (a link a browser follows carries no key), so there a request with neither is refused even when no key is
/// configured. A page token never opens a JSON route.
/// </summary>
public sealed class FunctionKeyAccess(HandlerOptions options, ReportLinkTokens tokens) : IApiAccess
{
    public bool IsAuthorized(HttpRequest request)
    {
        ArgumentNullException.ThrowIfNull(request);
        if (ThumbnailAccess.IsThumbnail(request.Path))
            return ThumbnailAccess.IsAllowed(request, options.FunctionKey, tokens);
        if (IsReportPage(request))
            return tokens.IsValid(ReportLinkTokens.PagesScope, request.Query[ReportLinkTokens.QueryName])
                   || (!string.IsNullOrEmpty(options.FunctionKey) && HasKey(request));
        return HasKey(request);
    }

    /// <summary>A fresh page token for the page's links and forms, so they never carry the key the page was opened with.</summary>
    public string? LinkToken(HttpRequest request) => tokens.Issue(ReportLinkTokens.PagesScope);

    private static bool IsReportPage(HttpRequest request) =>
        request.HttpContext.GetEndpoint()?.Metadata.GetMetadata<ReportPageRoute>() is not null;

    private bool HasKey(HttpRequest request) =>
        FunctionKeys.IsAuthorized(options.FunctionKey, request.Headers[FunctionKeys.HeaderName], request.Query[FunctionKeys.QueryName]);
}
