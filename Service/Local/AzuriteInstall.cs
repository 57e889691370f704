namespace ConvNeXt.Batch.Service.Local;

/// <summary>Where the <c>azurite</c> command is: <c>$AZURITE_PATH</c>, the repository's <c>tools/azurite</c>, or <c>PATH</c>.</summary>
public static class AzuriteInstall
{
    /// <summary>The <c>azurite</c> command, or a folder holding it (an npm install folder such as <c>tools/azurite</c>, or its <c>node_modules/.bin</c>).</summary>
    public const string PathVariable = "AZURITE_PATH";

    /// <summary>The repository's pinned install, relative to the repository root.</summary>
    public static readonly string RepositoryInstall = Path.Combine("tools", "azurite", "node_modules", ".bin", "azurite");

    /// <summary>What a user does when there is none.</summary>
    public const string InstallHint = "install it with 'npm ci --prefix tools/azurite' in the repository or 'npm i -g azurite', or set " + PathVariable;

    /// <summary>
    /// The <c>azurite</c> command: <c>$AZURITE_PATH</c> when set, else <c>tools/azurite/node_modules/.bin/azurite</c> in a folder
    /// above the program or the working directory (a build in the repository), else <c>azurite</c> on <c>PATH</c>;
    /// <c>null</c> when there is none.
    /// </summary>
    /// <exception cref="FileNotFoundException"><c>$AZURITE_PATH</c> is set but holds no <c>azurite</c>: a mistake to report, not to pass over.</exception>
    public static string? Find()
    {
        if (Environment.GetEnvironmentVariable(PathVariable) is { Length: > 0 } configured)
            return InFolderOrFile(configured)
                ?? throw new FileNotFoundException($"${PathVariable}={configured} is not the azurite command nor a folder holding it", configured);
        foreach (var start in new[] { AppContext.BaseDirectory, Environment.CurrentDirectory })
            for (var dir = new DirectoryInfo(start); dir is not null; dir = dir.Parent)
                if (Path.Combine(dir.FullName, RepositoryInstall) is var candidate && File.Exists(candidate))
                    return candidate;
        return (Environment.GetEnvironmentVariable("PATH") ?? "")
            .Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries)
            .Select(dir => Path.Combine(dir, "azurite"))
            .FirstOrDefault(File.Exists);
    }

    private static string? InFolderOrFile(string path)
    {
        if (File.Exists(path))
            return Path.GetFullPath(path);
        if (!Directory.Exists(path))
            return null;
        return new[] { "azurite", Path.Combine("node_modules", ".bin", "azurite"), Path.Combine("bin", "azurite") }
            .Select(p => Path.GetFullPath(Path.Combine(path, p)))
            .FirstOrDefault(File.Exists);
    }
}
