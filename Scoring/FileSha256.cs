using System.Security.Cryptography;

namespace ConvNeXt.Batch.Scoring;

/// <summary>The lowercase hex SHA-256 of a file: how weights and models are identified and pinned everywhere.</summary>
public static class FileSha256
{
    public static string Compute(string path)
    {
        using var stream = File.OpenRead(path);
        return Convert.ToHexStringLower(SHA256.HashData(stream));
    }

    public static async Task<string> ComputeAsync(string path, CancellationToken cancellationToken = default)
    {
        await using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 20, useAsync: true);
        return Convert.ToHexStringLower(await SHA256.HashDataAsync(stream, cancellationToken));
    }
}
