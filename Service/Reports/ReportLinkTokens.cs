using System.Globalization;
using System.Security.Cryptography;
using System.Text;

namespace ConvNeXt.Batch.Service.Reports;

/// <summary>
/// Short-lived signed tokens that let a report page's thumbnail links, and its links and forms to other report pages,
/// work without the function key in their URLs (URLs end up in caches, histories and logs). A token names what it opens
/// (<c>container/blob</c>, or <see cref="PagesScope"/>) and when it
/// expires: <c>{unix seconds}.{HMAC-SHA256 base64url}</c>. The signing key is <see cref="ReportOptions.LinkSigningKey"/>;
/// without one, the Functions handler shares <see cref="StoredLinkSigningKey"/> across its instances and <c>serve</c> (one
/// process) makes a random one.
/// </summary>
public sealed class ReportLinkTokens
{
    public const string QueryName = "t";

    /// <summary>
    /// The scope of a report page's links to other report pages. A thumbnail's scope starts with a container name
    /// (<c>[a-z0-9-]</c>), so no image token opens a page and no page token opens an image.
    /// </summary>
    public const string PagesScope = "*report-pages";

    // Read at the first signature, not at construction: a stored key costs a storage read that only requests with links
    // need, so a JSON report still answers while the blob service is down. A failed read is tried again by the next request.
    private readonly Lazy<byte[]> _key;
    private readonly TimeSpan _lifetime;
    private readonly TimeProvider _time;

    public ReportLinkTokens(byte[] key, TimeSpan lifetime, TimeProvider? time = null)
        : this(new Lazy<byte[]>(CheckKey(key)), lifetime, time)
    {
    }

    private ReportLinkTokens(Lazy<byte[]> key, TimeSpan lifetime, TimeProvider? time)
    {
        if (lifetime <= TimeSpan.Zero)
            throw new ArgumentOutOfRangeException(nameof(lifetime), "a link lifetime must be positive");
        (_key, _lifetime, _time) = (key, lifetime, time ?? TimeProvider.System);
    }

    private static byte[] CheckKey(byte[] key)
    {
        ArgumentNullException.ThrowIfNull(key);
        if (key.Length < 16)
            throw new ArgumentException("a link signing key needs at least 16 bytes", nameof(key));
        return key;
    }

    /// <param name="sharedKey">The key when none is configured (a deployment's <see cref="StoredLinkSigningKey"/>); null: random per process.</param>
    /// <exception cref="InvalidOperationException">The configured key is not base64 of at least 16 bytes (a start-up error).</exception>
    public static ReportLinkTokens FromOptions(ReportOptions options, Func<byte[]>? sharedKey = null, TimeProvider? time = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        if (string.IsNullOrWhiteSpace(options.LinkSigningKey))
        {
            return sharedKey is null
                ? new ReportLinkTokens(RandomNumberGenerator.GetBytes(32), options.LinkLifetime, time)
                : new ReportLinkTokens(new Lazy<byte[]>(() => CheckKey(sharedKey()), LazyThreadSafetyMode.PublicationOnly), options.LinkLifetime, time);
        }
        byte[] key;
        try
        {
            key = Convert.FromBase64String(options.LinkSigningKey);
        }
        catch (FormatException)
        {
            throw new InvalidOperationException("Reports__LinkSigningKey is not base64");
        }
        if (key.Length < 16)
            throw new InvalidOperationException("Reports__LinkSigningKey must be base64 of at least 16 bytes");
        return new ReportLinkTokens(key, options.LinkLifetime, time);
    }

    /// <summary>A token for <paramref name="scope"/>, valid for the configured lifetime.</summary>
    public string Issue(string scope)
    {
        var expires = _time.GetUtcNow().Add(_lifetime).ToUnixTimeSeconds().ToString(CultureInfo.InvariantCulture);
        return expires + "." + Sign(scope, expires);
    }

    /// <summary>Whether <paramref name="token"/> was issued for <paramref name="scope"/> and has not expired.</summary>
    public bool IsValid(string scope, string? token)
    {
        if (string.IsNullOrEmpty(token) || token.Split('.') is not [var expires, var signature]
            || !long.TryParse(expires, NumberStyles.None, CultureInfo.InvariantCulture, out var seconds)
            || seconds < _time.GetUtcNow().ToUnixTimeSeconds())
            return false;
        return CryptographicOperations.FixedTimeEquals(Encoding.ASCII.GetBytes(Sign(scope, expires)), Encoding.ASCII.GetBytes(signature));
    }

    private string Sign(string scope, string expires) =>
        Convert.ToBase64String(HMACSHA256.HashData(_key.Value, Encoding.UTF8.GetBytes(expires + "\n" + scope)))
            .TrimEnd('=').Replace('+', '-').Replace('/', '_');
}
