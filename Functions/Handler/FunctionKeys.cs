using System.Security.Cryptography;
using System.Text;

namespace ConvNeXt.Batch.Functions.Handler;

/// <summary>Handler settings (<c>Handler</c> section).</summary>
public sealed class HandlerOptions
{
    public const string Section = "Handler";

    /// <summary>
    /// When set, HTTP functions also check the key themselves (<c>x-functions-key</c> header or <c>code</c>
    /// query), so the handler is safe when reached without the Functions host in front (local runs, tests).
    /// In Azure the host enforces <c>authLevel: function</c> and this stays unset.
    /// </summary>
    public string? FunctionKey { get; set; }

    /// <summary>Containers whose BlobCreated events are scored (default <c>images</c>).</summary>
    public string[] ScoredContainers { get; set; } = [Service.Storage.ContainerNames.Images];
}

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
