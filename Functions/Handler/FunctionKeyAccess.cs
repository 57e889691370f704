using ConvNeXt.Batch.Api;
using ConvNeXt.Batch.Service.Reports;
using Microsoft.AspNetCore.Http;

namespace ConvNeXt.Batch.Functions.Handler;

/// <summary>
/// The handler's check on the API routes reached directly: the function key (<see cref="HandlerOptions.FunctionKey"/>), or
/// for a thumbnail, a report page's signed link to that one image (<see cref="ThumbnailAccess"/>).
/// </summary>
public sealed class FunctionKeyAccess(HandlerOptions options, ReportLinkTokens tokens) : IApiAccess
{
    public bool IsAuthorized(HttpRequest request) =>
        ThumbnailAccess.IsThumbnail(request.Path)
            ? ThumbnailAccess.IsAllowed(request, options.FunctionKey, tokens)
            : FunctionKeys.IsAuthorized(options.FunctionKey, request.Headers[FunctionKeys.HeaderName], request.Query[FunctionKeys.QueryName]);

    /// <summary>The key the request was authorized with (query <c>code</c> or the <c>x-functions-key</c> header), carried into the page's links.</summary>
    public string? LinkKey(HttpRequest request) =>
        request.Query[FunctionKeys.QueryName] is { Count: > 0 } q && !string.IsNullOrEmpty(q[0]) ? q[0]
        : request.Headers[FunctionKeys.HeaderName] is { Count: > 0 } h && !string.IsNullOrEmpty(h[0]) ? h[0]
        : null;
}
