using Azure;

namespace ConvNeXt.Batch.Service.Storage;

/// <summary>
/// Azurite started without <c>--skipApiVersionCheck</c> refuses the SDK's newer API version with a 400 whose
/// message is a page of XML and headers; this names the cause and the fix in one line instead.
/// </summary>
public static class AzuriteApiVersion
{
    public const string Fix = "Azurite refuses this SDK's storage API version: restart it with --skipApiVersionCheck --loose "
        + "(tools/azurite/node_modules/.bin/azurite --skipApiVersionCheck --loose --inMemoryPersistence)";

    /// <summary><see cref="Fix"/> when <paramref name="e"/> (or what it wraps) is that refusal, else null.</summary>
    public static string? Describe(Exception? e)
    {
        for (; e is not null; e = e.InnerException)
            if (e is RequestFailedException { Status: 400 } r && r.Message.Contains("API version", StringComparison.OrdinalIgnoreCase)
                && r.Message.Contains("Azurite", StringComparison.OrdinalIgnoreCase))
                return Fix;
        return null;
    }
}
