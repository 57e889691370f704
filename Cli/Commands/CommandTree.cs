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
            JobsCommand.Create(console),
            WatchCommand.Create(console),
            DemoCommand.Create(console),
            UploadCommand.Create(console),
            ServeCommand.Create(console),
            QueuesCommand.Create(console), DeadLettersCommand.Create(console),
        };
        root.Subcommands.Add(CompletionCommand.Create(console, () => root));
        return root;
    }

    public static async Task<int> InvokeAsync(string[] args, CliConsole console, CancellationToken cancellationToken)
    {
        var root = Create(console);
        // Bare convnext-batch: what it can do, not an error.
        if (args.Length == 0)
            args = ["--help"];
        ParseResult parse;
        try
        {
            parse = root.Parse(args);
        }
        catch (InvalidOperationException e) when (ConversionError(e.Message) is { } conversion)
        {
            // A validator read a value that did not convert (e.g. --top three); System.CommandLine throws
            // instead of reporting it, so it is reported here like any other parse error.
            console.Error.WriteLine($"error: {conversion} (see '{CommandName(args)} --help')");
            return BadArguments;
        }
        // A mistyped option first: the errors that follow from it ("--model is required") are not the user's mistake.
        if (parse.Action is not System.CommandLine.Help.HelpAction
            && (parse.UnmatchedTokens.FirstOrDefault(t => t.Length > 1 && t[0] == '-' && !char.IsAsciiDigit(t[1])) ?? UnknownOption(parse.CommandResult)) is { } mistyped)
        {
            var suggestion = OptionSuggestion.Closest(mistyped, parse.CommandResult.Command);
            console.Error.WriteLine($"error: unknown option '{mistyped}'{(suggestion is null ? "" : $"; did you mean '{suggestion}'?")} (see '{CommandPath(parse)} --help')");
            return BadArguments;
        }
        // System.CommandLine's default prints every error plus the whole help text; scripts want
        // one line they can log, and a distinct exit code.
        if (parse.Action is ParseErrorAction || (parse.Errors.Count > 0 && parse.Action is not System.CommandLine.Help.HelpAction))
        {
            // Prefer the error about a token the user typed over the consequential ones ("command required",
            // "--model is required"): System.CommandLine leaves a bad number out of the list when a command
            // validator has already failed, so typed values are checked here first.
            var message = MistypedNumber(parse.CommandResult) ?? (parse.Errors.Count == 0 ? "missing command"
                : (parse.Errors.FirstOrDefault(e => e.Message.Contains('\'')) ?? parse.Errors[0]).Message);
            console.Error.WriteLine($"error: {OneLine(ConversionError(message) ?? message)} (see '{CommandPath(parse)} --help')");
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
        catch (Service.Models.ModelNotFoundException e)
        {
            // An unknown model, version or alias is bad input wherever it is named.
            console.Error.WriteLine($"error: {OneLine(e.Message)} (see '{CliInvocation.Command} model list')");
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

    /// <summary>
    /// A token bound to a command's argument that looks like an option (<c>--tpo</c>, <c>-x</c>) and is no
    /// existing file: a typo, not an image path. (After <c>--</c> every token is an argument.)
    /// </summary>
    private static string? UnknownOption(System.CommandLine.Parsing.CommandResult command)
    {
        foreach (var child in command.Children.OfType<System.CommandLine.Parsing.ArgumentResult>())
            foreach (var token in child.Tokens)
                if (token.Value.Length > 1 && token.Value[0] == '-' && !char.IsAsciiDigit(token.Value[1]) && token.Value[1] != '.'
                    && !File.Exists(token.Value) && !Directory.Exists(token.Value) && !AfterDoubleDash(command, token))
                    return token.Value;
        return null;
    }

    private static bool AfterDoubleDash(System.CommandLine.Parsing.CommandResult command, System.CommandLine.Parsing.Token token)
    {
        var tokens = command.Parent is null ? [] : GetRoot(command).Tokens;
        var dashes = -1;
        for (var i = 0; i < tokens.Count; i++)
        {
            if (tokens[i].Type == System.CommandLine.Parsing.TokenType.DoubleDash && dashes < 0)
                dashes = i;
            if (ReferenceEquals(tokens[i], token))
                return dashes >= 0 && i > dashes;
        }
        return false;
    }

    private static System.CommandLine.Parsing.CommandResult GetRoot(System.CommandLine.Parsing.CommandResult command)
    {
        while (command.Parent is System.CommandLine.Parsing.CommandResult parent)
            command = parent;
        return command;
    }

    private static readonly System.Text.RegularExpressions.Regex Conversion = new(
        "Cannot parse argument '(?<value>.*)' for (option|command|argument) '(?<name>[^']*)' as expected type '(?<type>[^']*)'");

    /// <summary>System.CommandLine's "Cannot parse argument 'x' for option '--n' as expected type 'System.Int32'" in words.</summary>
    /// <summary>"--top expects an integer, got 'three'" for the first numeric option given a value that is not one.</summary>
    private static string? MistypedNumber(System.CommandLine.Parsing.CommandResult command)
    {
        foreach (var option in command.Children.OfType<System.CommandLine.Parsing.OptionResult>())
        {
            var type = Nullable.GetUnderlyingType(option.Option.ValueType) ?? option.Option.ValueType;
            var integer = type == typeof(int) || type == typeof(long);
            if (!integer && type != typeof(double) && type != typeof(float))
                continue;
            foreach (var token in option.Tokens)
                if (integer ? !long.TryParse(token.Value, System.Globalization.NumberStyles.Integer, System.Globalization.CultureInfo.InvariantCulture, out _)
                        : !double.TryParse(token.Value, System.Globalization.NumberStyles.Float, System.Globalization.CultureInfo.InvariantCulture, out _))
                    return $"{option.Option.Name} expects {(integer ? "an integer" : "a number")}, got '{token.Value}'";
        }
        return null;
    }

    internal static string? ConversionError(string message)
    {
        var match = Conversion.Match(message);
        if (!match.Success)
            return null;
        var type = match.Groups["type"].Value;
        var expected = type switch
        {
            _ when type.Contains("Int32", StringComparison.Ordinal) || type.Contains("Int64", StringComparison.Ordinal) => "an integer",
            _ when type.Contains("Single", StringComparison.Ordinal) || type.Contains("Double", StringComparison.Ordinal) => "a number",
            _ when type.Contains("Boolean", StringComparison.Ordinal) => "true or false",
            _ => "a " + type.Split('.', '`')[^1].TrimEnd(']', ',').ToLowerInvariant(),
        };
        return $"{match.Groups["name"].Value} expects {expected}, got '{match.Groups["value"].Value}'";
    }

    /// <summary>The command path from the raw arguments, for when parsing itself failed.</summary>
    private static string CommandName(string[] args)
    {
        var names = new List<string> { "convnext-batch" };
        var command = (Command)Create(new CliConsole(TextWriter.Null, TextWriter.Null, false));
        foreach (var arg in args)
        {
            if (command.Subcommands.FirstOrDefault(c => c.Name == arg) is not { } sub)
                break;
            names.Add(sub.Name);
            command = sub;
        }
        return string.Join(' ', names);
    }

    private static string Describe(Exception e) => e switch
    {
        _ when Service.Storage.AzuriteApiVersion.Describe(e) is { } azurite => azurite,
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
