using Microsoft.AspNetCore.Http;

namespace ConvNeXt.Batch.Api;

/// <summary>
/// Who may call the API, as the host decides it (the handler checks the function key; <c>serve</c> on 127.0.0.1 lets every
/// request through). Registered in the host's services; without one the API is open. <c>/api/health</c> is never checked.
/// </summary>
public interface IApiAccess
{
    bool IsAuthorized(HttpRequest request);

    /// <summary>
    /// The token a report page's links and forms must carry to reach the other report pages (a browser sends no header with
    /// a link), or null where none is needed. Never the function key itself.
    /// </summary>
    string? LinkToken(HttpRequest request);
}
