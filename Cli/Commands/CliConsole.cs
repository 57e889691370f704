using Spectre.Console;

namespace ConvNeXt.Batch.Cli.Commands;

/// <summary>Where a command writes: results to <see cref="Out"/>, diagnostics and progress to <see cref="Error"/>.</summary>
public sealed class CliConsole
{
    public CliConsole(TextWriter output, TextWriter error, bool interactive)
    {
        Out = output;
        Error = error;
        // Progress bars only make sense on a terminal; redirected output (tests, CI, pipes) gets none.
        ErrorIsTerminal = interactive && !Console.IsErrorRedirected;
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
    public bool ErrorIsTerminal { get; }
    public bool OutIsTerminal { get; }

    /// <summary>Spectre console bound to <see cref="Out"/> for human-readable tables.</summary>
    public IAnsiConsole Tables { get; }

    public void Warn(string message) => Error.WriteLine("warning: " + message);

    public void Info(string message) => Error.WriteLine(message);
}
