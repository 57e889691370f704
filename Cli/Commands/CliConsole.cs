using Spectre.Console;

namespace ConvNeXt.Batch.Cli.Commands;

/// <summary>Where a command writes: results to <see cref="Out"/>, diagnostics and progress to <see cref="Error"/>.</summary>
public sealed class CliConsole
{
    /// <param name="progress">Draw progress lines on <paramref name="error"/>; default: when it is a terminal.</param>
    public CliConsole(TextWriter output, TextWriter error, bool interactive, bool? progress = null)
    {
        Out = output;
        Error = error;
        // Progress bars only make sense on a terminal; redirected output (CI, pipes) gets none unless asked.
        ShowProgress = progress ?? (interactive && !Console.IsErrorRedirected);
        OutIsTerminal = interactive && !Console.IsOutputRedirected;
        Tables = AnsiConsole.Create(new AnsiConsoleSettings
        {
            Out = new AnsiConsoleOutput(output),
            Ansi = OutIsTerminal ? AnsiSupport.Detect : AnsiSupport.No,
            ColorSystem = OutIsTerminal ? ColorSystemSupport.Detect : ColorSystemSupport.NoColors,
            Interactive = InteractionSupport.No,
        });
        if (!OutIsTerminal)
            Tables.Profile.Width = 200;
    }

    public TextWriter Out { get; }
    public TextWriter Error { get; }
    /// <summary>Whether commands draw progress lines (count, rate, ETA) on <see cref="Error"/>; <c>--quiet</c> still turns them off.</summary>
    public bool ShowProgress { get; }
    public bool OutIsTerminal { get; }

    /// <summary>Spectre console bound to <see cref="Out"/> for human-readable tables.</summary>
    public IAnsiConsole Tables { get; }

    public void Warn(string message) => Error.WriteLine("warning: " + message);

    public void Info(string message) => Error.WriteLine(message);
}
