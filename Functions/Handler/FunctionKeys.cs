using System.Security.Cryptography;
using System.Text;

namespace ConvNeXt.Batch.Functions.Handler;

/// <summary>The function key as the handler checks it on requests that reach it directly.</summary>
public static class FunctionKeys
{
    public const string HeaderName = "x-functions-key";
    public const string QueryName = "code";

    public static bool IsAuthorized(string? configuredKey, string? headerKey, string? queryKey)
    {
        if (string.IsNullOrEmpty(configuredKey))
            return true;
        var presented = !string.IsNullOrEmpty(headerKey) ? headerKey : queryKey;
        if (string.IsNullOrEmpty(presented))
            return false;
        return CryptographicOperations.FixedTimeEquals(Encoding.UTF8.GetBytes(configuredKey), Encoding.UTF8.GetBytes(presented));
    }
}
