using Microsoft.AspNetCore.Http;

namespace ConvNeXt.Batch.Api;

/// <summary>
/// Who may call the API, as the host decides it (the handler checks the function key; <c>serve</c> on 127.0.0.1 lets every
/// request through). Registered in the host's services; without one the API is open. <c>/api/health</c> is never checked.
/// </summary>
public interface IApiAccess
{
    bool IsAuthorized(HttpRequest request);

    /// <summary>Whether a request to a report page's anonymous mirror (<c>PageLinks.MirrorPrefix</c>) carries a valid page token.</summary>
    bool IsPageAuthorized(HttpRequest request);

    /// <summary>
    /// The token a report page's links and forms carry to the mirror of the other report pages (a browser sends no header
    /// with a link), or null where links need none. Never the function key itself.
    /// </summary>
    string? PageToken(HttpRequest request);
}
