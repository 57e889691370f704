using ConvNeXt.Batch.Service.Reports;
using Microsoft.AspNetCore.Http;

namespace ConvNeXt.Batch.Functions.Handler;

/// <summary>
/// The thumbnail route opens to a report page's signed link (<see cref="ReportLinkTokens"/>) or to the function key.
/// Its function is anonymous at the host (a browser's <c>&lt;img&gt;</c> request carries no key), so here a request
/// with neither is refused even when the handler has no key configured.
/// </summary>
public static class ThumbnailAccess
{
    private static readonly PathString Route = "/api/thumbnails";

    public static bool IsThumbnail(PathString path) => path.StartsWithSegments(Route);

    public static bool IsAllowed(HttpRequest request, string? configuredKey, ReportLinkTokens tokens)
    {
        ArgumentNullException.ThrowIfNull(request);
        ArgumentNullException.ThrowIfNull(tokens);
        if (request.Path.StartsWithSegments(Route, out var rest) && rest.Value is { Length: > 1 } scope
            && tokens.IsValid(scope[1..], request.Query[ReportLinkTokens.QueryName]))
            return true;
        return !string.IsNullOrEmpty(configuredKey)
               && FunctionKeys.IsAuthorized(configuredKey, request.Headers[FunctionKeys.HeaderName], request.Query[FunctionKeys.QueryName]);
    }
}
