using System.Globalization;
using System.Text;

namespace ConvNeXt.Batch.Service.Storage;

/// <summary>
/// Reversible escaping of arbitrary strings (blob names) into table keys. Table keys forbid
/// <c>/ \ # ?</c> and control characters; those, the escape character <c>%</c> itself and the long-key
/// marker <c>~</c> become <c>%XX</c>. Every other character is kept, so the escaping is a per-character code
/// without prefixes: <c>Escape(a + b) == Escape(a) + Escape(b)</c>, which keeps prefix queries exact.
/// The mapping is injective: a key holds a literal <c>~</c> only when it is a shortened long name
/// (<c>prefix~sha256</c>), so no name can spell another's shortened key.
/// </summary>
public static class TableKeys
{
    /// <summary>Table keys may be at most 1 KiB.</summary>
    public const int MaxKeyLength = 512;

    /// <summary>Separates a long name's kept prefix from its hash; escaped everywhere else.</summary>
    public const char LongKeyMarker = '~';

    private const int LongKeyPrefix = MaxKeyLength - 65 - 7;

    public static string Escape(string value)
    {
        ArgumentNullException.ThrowIfNull(value);
        StringBuilder? builder = null;
        for (var i = 0; i < value.Length; i++)
        {
            var c = value[i];
            if (NeedsEscape(c))
            {
                builder ??= new StringBuilder(value.Length + 8).Append(value, 0, i);
                builder.Append('%').Append(((int)c).ToString("X2", CultureInfo.InvariantCulture));
            }
            else
            {
                builder?.Append(c);
            }
        }
        var escaped = builder?.ToString() ?? value;
        if (escaped.Length <= MaxKeyLength)
            return escaped;
        // Too long for a key (blob names may have 1024 characters): keep a long prefix, so prefix queries
        // still work up to it, and make it unique with the hash of the whole name. Not reversible: rows keep
        // the name in a column.
        var hash = Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(Encoding.UTF8.GetBytes(value)));
        var cut = LongKeyPrefix;
        if (char.IsHighSurrogate(escaped[cut - 1]))
            cut--;
        return string.Concat(escaped.AsSpan(0, cut), LongKeyMarker.ToString(), hash);
    }

    /// <summary>The name of a key made by <see cref="Escape"/> (for names short enough to be kept whole).</summary>
    /// <exception cref="FormatException">The key is not an escaped name, or is a shortened long name.</exception>
    public static string Unescape(string key)
    {
        ArgumentNullException.ThrowIfNull(key);
        if (key.Contains(LongKeyMarker))
            throw new FormatException($"'{key}' is a shortened long name: the row's BlobName column holds the name");
        if (!key.Contains('%'))
            return key;
        var builder = new StringBuilder(key.Length);
        for (var i = 0; i < key.Length; i++)
        {
            if (key[i] == '%' && i + 2 < key.Length &&
                int.TryParse(key.AsSpan(i + 1, 2), NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out var code))
            {
                builder.Append((char)code);
                i += 2;
            }
            else if (key[i] == '%')
            {
                throw new FormatException($"'{key}' is not an escaped table key");
            }
            else
            {
                builder.Append(key[i]);
            }
        }
        return builder.ToString();
    }

    /// <summary>Exclusive upper bound of the keys that start with <paramref name="escapedPrefix"/>.</summary>
    public static string PrefixUpperBound(string escapedPrefix)
    {
        if (escapedPrefix.Length == 0)
            return "\uffff";
        var last = escapedPrefix[^1];
        return last == char.MaxValue
            ? escapedPrefix + "\uffff"
            : string.Concat(escapedPrefix.AsSpan(0, escapedPrefix.Length - 1), new string((char)(last + 1), 1));
    }

    /// <summary>Zero-padded so that row-key order is numeric order.</summary>
    public static string ChunkKey(int chunkIndex) => chunkIndex.ToString("D6", CultureInfo.InvariantCulture);

    private static bool NeedsEscape(char c) =>
        c is '/' or '\\' or '#' or '?' or '%' or LongKeyMarker || char.IsControl(c) || c is '\u007f';
}
