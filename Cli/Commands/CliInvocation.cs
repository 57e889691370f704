namespace ConvNeXt.Batch.Cli.Commands;

/// <summary>
/// The command line that starts this CLI here, for the commands it suggests: <c>convnext-batch</c>
/// when that name is on PATH (an alias or <c>dotnet tool install</c>), else what works without it
/// (<c>dotnet Cli/bin/Release/net10.0/convnext-batch.dll</c>).
/// </summary>
internal static class CliInvocation
{
    public const string Name = "convnext-batch";

    public static string Command { get; } = Resolve();

    private static string Resolve()
    {
        if (OnPath(Name))
            return Name;
        var process = Environment.ProcessPath;
        var dll = Path.Combine(AppContext.BaseDirectory, Name + ".dll");
        if (process is not null && Path.GetFileNameWithoutExtension(process) == Name)
            return Relative(process);
        return File.Exists(dll) ? $"dotnet {Relative(dll)}" : Name;
    }

    private static bool OnPath(string name) =>
        (Environment.GetEnvironmentVariable("PATH") ?? "").Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries)
        .Any(dir => File.Exists(Path.Combine(dir, name)) || File.Exists(Path.Combine(dir, name + ".exe")));

    private static string Relative(string path)
    {
        var relative = Path.GetRelativePath(Directory.GetCurrentDirectory(), path);
        return relative.StartsWith("..", StringComparison.Ordinal) && relative.Count(c => c == '/') > 3 ? path : relative;
    }
}
