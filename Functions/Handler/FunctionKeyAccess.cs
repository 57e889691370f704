using ConvNeXt.Batch.Api;
using ConvNeXt.Batch.Service.Reports;
using Microsoft.AspNetCore.Http;

namespace ConvNeXt.Batch.Functions.Handler;

/// <summary>
/// The handler's check on the API routes reached directly: the function key (<see cref="HandlerOptions.FunctionKey"/>); for a
/// thumbnail, a report page's signed link to that one image (<see cref="ThumbnailAccess"/>); for the report pages' anonymous
/// mirror (<see cref="PageLinks"/>, the <c>GetReportPage</c> function), a page's signed link to the report pages, and
/// nothing else: the key opens the pages at their own routes, where the host checks it.
/// </summary>
public sealed class FunctionKeyAccess(HandlerOptions options, ReportLinkTokens tokens) : IApiAccess
{
    public bool IsAuthorized(HttpRequest request) =>
        ThumbnailAccess.IsThumbnail(request.Path)
            ? ThumbnailAccess.IsAllowed(request, options.FunctionKey, tokens)
            : FunctionKeys.IsAuthorized(options.FunctionKey, request.Headers[FunctionKeys.HeaderName], request.Query[FunctionKeys.QueryName]);

    public bool IsPageAuthorized(HttpRequest request)
    {
        ArgumentNullException.ThrowIfNull(request);
        return tokens.IsValid(ReportLinkTokens.PagesScope, request.Query[ReportLinkTokens.QueryName]);
    }

    /// <summary>
    /// A page opened with the key issues a fresh token; a page opened by its token passes that same token on, so a leaked
    /// link opens pages only until the token it was issued with expires, however often it is followed.
    /// </summary>
    public string? PageToken(HttpRequest request)
    {
        ArgumentNullException.ThrowIfNull(request);
        return request.Path.StartsWithSegments(PageLinks.MirrorPrefix) && request.Query[ReportLinkTokens.QueryName] is { Count: 1 } token
            ? token[0]
            : tokens.Issue(ReportLinkTokens.PagesScope);
    }
}
