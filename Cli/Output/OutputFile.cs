namespace ConvNeXt.Batch.Cli.Output;

/// <summary>
/// Opens an output file the way <c>dotnet publish -o</c> and azcopy treat destinations: missing parent
/// folders are created (and said so on standard error), and anything that makes the file impossible to
/// write is one sentence naming the path and the reason, not a raw IO exception.
/// </summary>
internal static class OutputFile
{
    public static FileStream Open(string path, Action<string>? info = null)
    {
        var full = Path.GetFullPath(path);
        if (Directory.Exists(full))
            throw new Commands.UsageException($"cannot write {path}: it is a folder; give a file name");
        var folder = Path.GetDirectoryName(full)!;
        // Walk up to the first part that exists: a file there means the path cannot be a folder.
        for (var dir = folder; !string.IsNullOrEmpty(dir); dir = Path.GetDirectoryName(dir))
        {
            if (File.Exists(dir))
                throw new Commands.UsageException($"cannot write {path}: {dir} is a file, not a folder");
            if (Directory.Exists(dir))
                break;
        }
        try
        {
            if (!Directory.Exists(folder))
            {
                Directory.CreateDirectory(folder);
                info?.Invoke($"created folder {folder}");
            }
            return new FileStream(full, FileMode.Create, FileAccess.ReadWrite, FileShare.Read, 1 << 16, useAsync: true);
        }
        catch (UnauthorizedAccessException)
        {
            throw new Commands.CommandFailedException($"cannot write {path}: permission denied");
        }
        catch (IOException e)
        {
            throw new Commands.CommandFailedException($"cannot write {path}: {Reason(e, folder)}");
        }
    }

    private static string Reason(IOException e, string folder) =>
        // /proc, /sys and read-only mounts refuse new files with messages that name the wrong thing ("file not found").
        e is FileNotFoundException or DirectoryNotFoundException || e.HResult == 30 /* EROFS */
            ? $"{folder} does not accept new files (read-only or a virtual file system)"
            : Commands.CommandTree.OneLine(e.Message);
}
