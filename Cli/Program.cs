using ConvNeXt.Batch.Cli.Commands;

namespace ConvNeXt.Batch.Cli;

/// <summary>Entry point of <c>convnext-batch</c>. Tests call <see cref="InvokeAsync"/> in-process.</summary>
public static class Program
{
    public static async Task<int> Main(string[] args)
    {
        using var cancellation = new CancellationTokenSource();
        // First Ctrl+C asks commands to stop cleanly (watch, score); a second one kills the process.
        Console.CancelKeyPress += (_, e) =>
        {
            if (!cancellation.IsCancellationRequested)
            {
                e.Cancel = true;
                cancellation.Cancel();
            }
        };
        return await InvokeAsync(args, Console.Out, Console.Error, cancellation.Token, interactive: true);
    }

    /// <summary>
    /// Parses and runs one command line. Exit codes: 0 success, 1 the command failed (one line on
    /// <paramref name="error"/>), 2 bad arguments (one line on <paramref name="error"/>), 130 cancelled.
    /// <paramref name="progress"/> forces progress lines on or off (default: on when standard error is a terminal).
    /// </summary>
    public static Task<int> InvokeAsync(string[] args, TextWriter output, TextWriter error,
        CancellationToken cancellationToken = default, bool interactive = false, bool? progress = null)
    {
        var console = new CliConsole(output, error, interactive, progress);
        return CommandTree.InvokeAsync(args, console, cancellationToken);
    }
}
