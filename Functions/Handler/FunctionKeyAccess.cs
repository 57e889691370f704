using ConvNeXt.Batch.Api;
using Microsoft.AspNetCore.Http;

namespace ConvNeXt.Batch.Functions.Handler;

/// <summary>The handler's check on the API routes reached directly: the function key (<see cref="HandlerOptions.FunctionKey"/>).</summary>
public sealed class FunctionKeyAccess(HandlerOptions options) : IApiAccess
{
    public bool IsAuthorized(HttpRequest request) =>
        FunctionKeys.IsAuthorized(options.FunctionKey, request.Headers[FunctionKeys.HeaderName], request.Query[FunctionKeys.QueryName]);

    /// <summary>The key the request was authorized with (query <c>code</c> or the <c>x-functions-key</c> header), carried into the page's links.</summary>
    public string? LinkKey(HttpRequest request) =>
        request.Query[FunctionKeys.QueryName] is { Count: > 0 } q && !string.IsNullOrEmpty(q[0]) ? q[0]
        : request.Headers[FunctionKeys.HeaderName] is { Count: > 0 } h && !string.IsNullOrEmpty(h[0]) ? h[0]
        : null;
}
