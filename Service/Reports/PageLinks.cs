namespace ConvNeXt.Batch.Service.Reports;

/// <summary>
/// Where a report page's links and forms to the other report pages point. A browser sends no header with a link, and the
/// function key must not ride in URLs (they end up in histories, caches and logs), so behind the Functions host the links go
/// to the report routes' anonymous mirror under <see cref="MirrorPrefix"/> with a short-lived page token
/// (<see cref="ReportLinkTokens.PagesScope"/>); the mirror opens to that token and nothing else. <c>serve</c> (127.0.0.1,
/// no key) links to the routes themselves.
/// </summary>
public sealed class PageLinks
{
    /// <summary>The mirror of every report route: <c>/api/pages/reports/history</c> is <c>/api/reports/history</c>.</summary>
    public const string MirrorPrefix = "/api/pages";

    // Asked for at the first link a page writes: a JSON answer writes none, so it never needs the signing key.
    private readonly Lazy<string?> _token;

    private PageLinks(Lazy<string?> token) => _token = token;

    /// <summary>Links to the report routes themselves, with nothing added.</summary>
    public static PageLinks Direct { get; } = new(new Lazy<string?>((string?)null));

    /// <summary>The page token the links carry, or null for direct links.</summary>
    public string? Token => _token.Value;

    public static PageLinks Signed(string token) => new(new Lazy<string?>(token ?? throw new ArgumentNullException(nameof(token))));

    /// <summary>Links signed with the token <paramref name="token"/> gives when the first link is written; a null token: direct links.</summary>
    public static PageLinks Signed(Func<string?> token) => new(new Lazy<string?>(token ?? throw new ArgumentNullException(nameof(token))));

    /// <summary>The mirror of an API route (<c>/api/…</c>).</summary>
    public static string Mirror(string route)
    {
        ArgumentNullException.ThrowIfNull(route);
        return route.StartsWith("/api/", StringComparison.Ordinal)
            ? MirrorPrefix + route["/api".Length..]
            : throw new ArgumentException($"'{route}' is not an API route", nameof(route));
    }

    /// <summary>The href for a report page (<c>/api/…</c>, with or without a query).</summary>
    public string To(string page) =>
        Token is null ? page : Mirror(page) + (page.Contains('?', StringComparison.Ordinal) ? '&' : '?') + ReportLinkTokens.QueryName + "=" + Uri.EscapeDataString(Token);

    /// <summary>The action of a page's GET form (a browser replaces the action's query with the form's fields).</summary>
    public string FormAction(string page) => Token is null ? page : Mirror(page);

    /// <summary>The hidden fields a page's GET form keeps across submissions.</summary>
    public IReadOnlyDictionary<string, string> FormFields() =>
        Token is null ? new Dictionary<string, string>() : new Dictionary<string, string> { [ReportLinkTokens.QueryName] = Token };
}
