namespace ConvNeXt.Batch.Cli.Output;

/// <summary>
/// Opens an output file the way <c>cp</c>, <c>curl -o</c> and shell redirection treat a destination: the
/// folder must exist (a mistyped path, run as root, would otherwise plant folders anywhere), and anything
/// that makes the file impossible to write is one sentence naming the path and the reason, not a raw IO exception.
/// </summary>
internal static class OutputFile
{
    /// <summary>
    /// Why <paramref name="path"/> can never be written as a file (a folder, a path below a file, a folder that
    /// does not exist), or <c>null</c>. Checked when the options are parsed, so a long run never ends on a bad path.
    /// </summary>
    public static string? Problem(string path)
    {
        var full = Path.GetFullPath(path);
        if (Directory.Exists(full))
            return $"cannot write {path}: it is a folder; give a file name";
        var folder = Path.GetDirectoryName(full)!;
        // Walk up to the first part that exists: a file there means the path cannot be a folder.
        for (var dir = folder; !string.IsNullOrEmpty(dir); dir = Path.GetDirectoryName(dir))
        {
            if (File.Exists(dir))
                return $"cannot write {path}: {dir} is a file, not a folder";
            if (Directory.Exists(dir))
                return dir == folder ? null : $"cannot write {path}: folder {folder} does not exist (create it first)";
        }
        return null;
    }

    /// <summary>Creates (or replaces) <paramref name="path"/>; see <see cref="Problem"/> for what is refused.</summary>
    public static FileStream Open(string path)
    {
        if (Problem(path) is { } problem)
            throw new Commands.UsageException(problem);
        var full = Path.GetFullPath(path);
        try
        {
            return new FileStream(full, FileMode.Create, FileAccess.ReadWrite, FileShare.Read, 1 << 16, useAsync: true);
        }
        catch (UnauthorizedAccessException)
        {
            throw new Commands.CommandFailedException($"cannot write {path}: permission denied");
        }
        catch (IOException e)
        {
            throw new Commands.CommandFailedException($"cannot write {path}: {Reason(e, Path.GetDirectoryName(full)!)}");
        }
    }

    private static string Reason(IOException e, string folder) =>
        // /proc, /sys and read-only mounts refuse new files with messages that name the wrong thing ("file not found").
        e is FileNotFoundException or DirectoryNotFoundException || e.HResult == 30 /* EROFS */
            ? $"{folder} does not accept new files (read-only or a virtual file system)"
            : Commands.CommandTree.OneLine(e.Message);
}
