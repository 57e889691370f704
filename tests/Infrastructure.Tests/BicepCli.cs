using System.Diagnostics;
using System.Reflection;

namespace ConvNeXt.Batch.Infrastructure.Tests;

/// <summary>Runs the Bicep CLI restored from the Azure.Bicep.CommandLine.linux-x64 package.</summary>
public static class BicepCli
{
    private static readonly Lazy<string> Executable = new(Locate);

    public sealed record Result(int ExitCode, string StdOut, string StdErr)
    {
        public string Output => StdOut + StdErr;
    }

    public static async Task<Result> RunAsync(string workingDirectory, params string[] args)
    {
        var start = new ProcessStartInfo(Executable.Value)
        {
            WorkingDirectory = workingDirectory,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var arg in args)
            start.ArgumentList.Add(arg);
        // Offline and quiet: no tracing, no telemetry; invariant globalization so a machine
        // without ICU still runs the (.NET single-file) CLI.
        start.Environment["BICEP_TRACING_ENABLED"] = "false";
        start.Environment["DOTNET_CLI_TELEMETRY_OPTOUT"] = "1";
        start.Environment["DOTNET_SYSTEM_GLOBALIZATION_INVARIANT"] = "1";

        using var process = Process.Start(start) ?? throw new InvalidOperationException("could not start " + start.FileName);
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(2));
        try
        {
            await process.WaitForExitAsync(timeout.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException($"bicep {string.Join(' ', args)} ran longer than 2 minutes");
        }
        return new Result(process.ExitCode, await stdout, await stderr);
    }

    private static string Locate()
    {
        var path = Environment.GetEnvironmentVariable("BICEP_PATH");
        if (string.IsNullOrEmpty(path))
            path = typeof(BicepCli).Assembly.GetCustomAttributes<AssemblyMetadataAttribute>()
                .Single(a => a.Key == "BicepPath").Value;
        if (string.IsNullOrEmpty(path) || !File.Exists(path))
            throw new FileNotFoundException($"bicep CLI not found at '{path}': restore the Azure.Bicep.CommandLine.linux-x64 package or set BICEP_PATH", path);
        // The package is the linux-x64 build; the execute bit only matters there.
        return OperatingSystem.IsWindows() ? path : EnsureExecutable(path);
    }

    // NuGet extracts package files without the execute bit on some machines.
    [System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
    private static string EnsureExecutable(string path)
    {
        const UnixFileMode execute = UnixFileMode.UserExecute;
        var mode = File.GetUnixFileMode(path);
        if ((mode & execute) != 0)
            return path;
        try
        {
            File.SetUnixFileMode(path, mode | UnixFileMode.UserExecute | UnixFileMode.GroupExecute | UnixFileMode.OtherExecute);
            return path;
        }
        catch (UnauthorizedAccessException)
        {
            // A read-only shared package cache: run a private executable copy instead.
            var copy = Path.Combine(Path.GetTempPath(), "convnext-batch-bicep", "bicep");
            Directory.CreateDirectory(Path.GetDirectoryName(copy)!);
            File.Copy(path, copy, overwrite: true);
            File.SetUnixFileMode(copy, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
            return copy;
        }
    }
}
