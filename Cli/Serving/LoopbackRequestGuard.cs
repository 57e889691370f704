using ConvNeXt.Batch.Service.Api;
using ConvNeXt.Batch.Service.Contracts;
using Microsoft.AspNetCore.Http;

namespace ConvNeXt.Batch.Cli.Serving;

/// <summary>
/// What <c>serve</c> accepts beyond binding to 127.0.0.1, since any web page the user visits can send requests there:
/// the <c>Host</c> must be a loopback name (a DNS-rebound name is refused, so a page cannot read answers), and a
/// request that changes something must be <c>application/json</c> (which a page can send only after a CORS
/// preflight, which nothing here answers) with no <c>Origin</c> or the server's own.
/// </summary>
internal sealed class LoopbackRequestGuard(RequestDelegate next)
{
    private static readonly string[] LoopbackHosts = ["localhost", "127.0.0.1", "[::1]"];

    public async Task InvokeAsync(HttpContext context)
    {
        var request = context.Request;
        if (Problem(request) is { } problem)
        {
            context.Response.StatusCode = problem.Status;
            await context.Response.WriteAsJsonAsync(new ApiProblem(problem.Message), ContractJson.Options, context.RequestAborted);
            return;
        }
        await next(context);
    }

    /// <summary>The status and message of a refused request; null for one to serve.</summary>
    internal static (int Status, string Message)? Problem(HttpRequest request)
    {
        if (!IsLoopback(request.Host))
            return (StatusCodes.Status421MisdirectedRequest, "this server answers only requests to localhost, 127.0.0.1 or [::1] (the Host header names another host)");
        // POST is the only method routed that changes anything; a page cannot send the others cross-origin without a preflight.
        if (!HttpMethods.IsPost(request.Method))
            return null;
        var origin = request.Headers.Origin.ToString();
        if (origin.Length > 0 && !string.Equals(origin, $"{request.Scheme}://{request.Host.Value}", StringComparison.OrdinalIgnoreCase))
            return (StatusCodes.Status403Forbidden, $"{request.Method} from another origin is refused: a web page may not start work on this server");
        if (!IsJson(request.ContentType))
            return (StatusCodes.Status415UnsupportedMediaType, $"{request.Method} needs Content-Type: application/json");
        return null;
    }

    private static bool IsLoopback(HostString host) =>
        host.HasValue && LoopbackHosts.Contains(host.Host, StringComparer.OrdinalIgnoreCase);

    private static bool IsJson(string? contentType) =>
        contentType is not null && contentType.Split(';')[0].Trim().Equals("application/json", StringComparison.OrdinalIgnoreCase);
}
