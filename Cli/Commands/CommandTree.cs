using System.CommandLine;
using System.CommandLine.Invocation;

namespace ConvNeXt.Batch.Cli.Commands;

/// <summary>The <c>convnext-batch</c> command tree and its error handling.</summary>
public static class CommandTree
{
    public const int Success = 0;
    public const int Failure = 1;
    public const int BadArguments = 2;
    public const int Cancelled = 130;

    public static RootCommand Create(CliConsole console)
    {
        var root = new RootCommand("convnext-batch: build ConvNeXt ONNX models and score images with them, locally or against Azure Storage.")
        {
            ModelCommands.Create(console),
            PredictCommand.Create(console),
            ScoreCommand.Create(console),
            ValidateCommand.Create(console),
            BenchCommand.Create(console),
            ResultsCommand.Create(console),
            WatchCommand.Create(console),
            DemoCommand.Create(console),
            ServeCommand.Create(console),
        };
        return root;
    }

    public static async Task<int> InvokeAsync(string[] args, CliConsole console, CancellationToken cancellationToken)
    {
        var root = Create(console);
        var parse = root.Parse(args);
        // System.CommandLine's default prints every error plus the whole help text; scripts want
        // one line they can log, and a distinct exit code.
        if (parse.Action is ParseErrorAction || (parse.Errors.Count > 0 && parse.Action is not System.CommandLine.Help.HelpAction))
        {
            // Prefer the error about a token the user typed over the consequential "command required".
            var message = parse.Errors.Count == 0 ? "missing command"
                : (parse.Errors.FirstOrDefault(e => e.Message.Contains('\'')) ?? parse.Errors[0]).Message;
            console.Error.WriteLine($"error: {OneLine(message)} (see '{CommandPath(parse)} --help')");
            return BadArguments;
        }

        var configuration = new InvocationConfiguration
        {
            Output = console.Out,
            Error = console.Error,
            EnableDefaultExceptionHandler = false,
            ProcessTerminationTimeout = null,
        };
        try
        {
            return await parse.InvokeAsync(configuration, cancellationToken);
        }
        catch (UsageException e)
        {
            console.Error.WriteLine($"error: {OneLine(e.Message)} (see '{CommandPath(parse)} --help')");
            return BadArguments;
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            console.Error.WriteLine("cancelled");
            return Cancelled;
        }
        catch (Exception e)
        {
            console.Error.WriteLine($"error: {OneLine(Describe(e))}");
            // The one-line contract is for users and scripts; developers can ask for the whole story.
            if (Environment.GetEnvironmentVariable("CONVNEXT_DEBUG") == "1")
                console.Error.WriteLine(e.ToString());
            return Failure;
        }
    }

    private static string Describe(Exception e) => e switch
    {
        CommandFailedException => e.Message,
        AggregateException { InnerExceptions.Count: 1 } a => Describe(a.InnerExceptions[0]),
        FileNotFoundException f => $"file not found: {f.FileName ?? f.Message}",
        _ => e.Message,
    };

    internal static string OneLine(string message) =>
        string.Join(' ', message.Split(['\r', '\n'], StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries));

    private static string CommandPath(ParseResult parse)
    {
        var names = new List<string>();
        for (var result = parse.CommandResult; result is not null; result = result.Parent as System.CommandLine.Parsing.CommandResult)
            names.Add(result.Command is RootCommand ? "convnext-batch" : result.Command.Name);
        names.Reverse();
        return string.Join(' ', names);
    }
}
