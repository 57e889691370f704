using System.Security.Cryptography;
using System.Text;

namespace ConvNeXt.Batch.Service.Storage;

/// <summary>
/// HMAC-SHA256 signatures of queue messages under a key that never leaves storage (kept in the row of the run or
/// job that planned them), shared by validation chunks and scoring jobs: a message that was not planned (forged,
/// edited, or from another run or job) is rejected before anything is read or written.
/// </summary>
public static class MessageSigner
{
    /// <summary>A fresh key (base64, 32 random bytes).</summary>
    public static string NewKey() => Convert.ToBase64String(RandomNumberGenerator.GetBytes(32));

    /// <summary>
    /// The signature of <paramref name="fields"/>, joined by newlines. Callers sign fields that cannot hold a newline
    /// (ids, container names, numbers, hex, listing tokens), so two different messages never share a text.
    /// </summary>
    public static string Sign(string key, params ReadOnlySpan<string> fields)
    {
        using var hmac = IncrementalHash.CreateHMAC(HashAlgorithmName.SHA256, Convert.FromBase64String(key));
        foreach (var field in fields)
        {
            hmac.AppendData(Encoding.UTF8.GetBytes(field));
            hmac.AppendData("\n"u8);
        }
        return Convert.ToBase64String(hmac.GetHashAndReset());
    }

    /// <summary>Whether <paramref name="signature"/> is the one of <paramref name="fields"/> under <paramref name="key"/> (constant time).</summary>
    public static bool Verify(string key, string? signature, params ReadOnlySpan<string> fields) =>
        CryptographicOperations.FixedTimeEquals(Encoding.ASCII.GetBytes(Sign(key, fields)), Encoding.ASCII.GetBytes(signature ?? ""));
}
