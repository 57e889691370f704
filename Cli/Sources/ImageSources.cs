namespace ConvNeXt.Batch.Cli.Sources;

/// <summary>Where <c>score</c> reads images from: a local folder or a blob container (optionally a prefix).</summary>
public abstract record ImageSource
{
    /// <summary>Parses <c>blob://container[/prefix]</c> or a folder path.</summary>
    public static ImageSource Parse(string value, string? container, string? prefix)
    {
        if (container is not null)
            return new BlobImageSource(container, prefix ?? "");
        if (value.StartsWith("blob://", StringComparison.OrdinalIgnoreCase))
        {
            var rest = value["blob://".Length..];
            var slash = rest.IndexOf('/');
            var name = slash < 0 ? rest : rest[..slash];
            var blobPrefix = slash < 0 ? "" : rest[(slash + 1)..];
            return new BlobImageSource(name, prefix ?? blobPrefix);
        }
        return new FolderImageSource(Path.GetFullPath(value));
    }
}

public sealed record FolderImageSource(string Folder) : ImageSource
{
    /// <summary>Every regular, non-hidden file below the folder in ordinal path order: each becomes a record, even if it is not an image.</summary>
    public IEnumerable<string> Files() =>
        Directory.EnumerateFiles(Folder, "*", new EnumerationOptions { RecurseSubdirectories = true, AttributesToSkip = FileAttributes.Hidden | FileAttributes.System })
            .Where(f => !Path.GetFileName(f).StartsWith('.'))
            .Order(StringComparer.Ordinal);
}

public sealed record BlobImageSource(string Container, string Prefix) : ImageSource;
