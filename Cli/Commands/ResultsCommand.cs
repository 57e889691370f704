using System.CommandLine;
using ConvNeXt.Batch.Cli.Output;
using ConvNeXt.Batch.Functions.Queries;
using ConvNeXt.Batch.Functions.Storage;

namespace ConvNeXt.Batch.Cli.Commands;

/// <summary><c>results predictions | runs | run ID</c>: read the result tables.</summary>
internal static class ResultsCommand
{
    public static Command Create(CliConsole console) => new("results", "Query the Predictions and validation tables")
    {
        Predictions(console),
        Runs(console),
        Run(console),
    };

    private static Option<string> FormatOption() => new Option<string>("--format")
    {
        Description = "Output format",
        DefaultValueFactory = _ => "table",
        HelpName = "table|csv|json",
    }.AcceptOnlyFromAmong("table", "csv", "json");

    private static Option<int> TopOption(int defaultValue)
    {
        var top = new Option<int>("--top") { Description = "At most N rows", DefaultValueFactory = _ => defaultValue, HelpName = "N" };
        OptionParsing.Positive(top);
        return top;
    }

    internal static StorageAccount Account(StorageConnectionOption storage, ParseResult parse) =>
        new(new StorageOptions { ConnectionString = storage.Resolve(parse) });

    private static Command Predictions(CliConsole console)
    {
        var container = new Option<string?>("--container") { Description = "Only this container", HelpName = "NAME" };
        var prefix = new Option<string?>("--prefix") { Description = "Only blobs whose name starts with PREFIX (needs --container)", HelpName = "PREFIX" };
        var errors = new Option<bool>("--errors") { Description = "Only images that could not be scored" };
        var wnid = new Option<string?>("--wnid") { Description = "Only rows whose top-1 class is this WordNet id", HelpName = "WNID" };
        var top = TopOption(100);
        var format = FormatOption();
        var command = new Command("predictions", "List rows of the Predictions table") { container, prefix, errors, wnid, top, format };
        var storage = new StorageConnectionOption(command);
        command.Validators.Add(r =>
        {
            if (r.GetValue(prefix) is not null && r.GetValue(container) is null)
                r.AddError("--prefix needs --container");
        });
        command.SetAction(async (parse, ct) =>
        {
            var queries = new PredictionQueries(Account(storage, parse));
            var wanted = parse.GetValue(top);
            var rows = new List<PredictionRecord>();
            string? token = null;
            do
            {
                var page = await queries.ListAsync(new PredictionQuery
                {
                    Container = parse.GetValue(container),
                    Prefix = parse.GetValue(prefix),
                    Status = parse.GetValue(errors) ? RowStatus.Failed : null,
                    Wnid = parse.GetValue(wnid),
                    Top = Math.Min(wanted - rows.Count, 1000),
                    ContinuationToken = token,
                }, ct);
                rows.AddRange(page.Items);
                token = page.ContinuationToken;
            }
            while (token is not null && rows.Count < wanted);

            TabularOutput.Write(console, TabularOutput.Parse(parse.GetValue(format)!), "Predictions", rows,
            [
                ("container", r => r.Container),
                ("blob", r => r.Blob),
                ("status", r => r.Status),
                ("top-1", r => r.Top.Count > 0 ? r.Top[0].Name : r.ErrorReason),
                ("p", r => r.Top.Count > 0 ? r.Top[0].Probability : null),
                ("top-2", r => r.Top.Count > 1 ? r.Top[1].Name : null),
                ("model", r => r.ModelId),
                ("scored at", r => r.ScoredAt),
            ]);
            return CommandTree.Success;
        });
        return command;
    }

    private static Command Runs(CliConsole console)
    {
        var top = TopOption(20);
        var format = FormatOption();
        var command = new Command("runs", "List validation runs, newest first") { top, format };
        var storage = new StorageConnectionOption(command);
        command.SetAction(async (parse, ct) =>
        {
            var runs = await ValidationResults.ListRunsAsync(Account(storage, parse), parse.GetValue(top), ct);
            TabularOutput.Write(console, TabularOutput.Parse(parse.GetValue(format)!), "Validation runs", runs, ValidationResults.RunColumns);
            return CommandTree.Success;
        });
        return command;
    }

    private static Command Run(CliConsole console)
    {
        var id = new Argument<string>("ID") { Description = "Validation run id" };
        var wrong = new Option<bool>("--wrong") { Description = "Also list the images whose top-1 prediction was wrong" };
        var top = TopOption(50);
        var format = FormatOption();
        var command = new Command("run", "Show one validation run (and its wrong predictions with --wrong)") { id, wrong, top, format };
        var storage = new StorageConnectionOption(command);
        command.SetAction(async (parse, ct) =>
        {
            var account = Account(storage, parse);
            var run = await ValidationResults.GetRunAsync(account, parse.GetValue(id)!, ct)
                ?? throw new CommandFailedException($"no validation run '{parse.GetValue(id)}'");
            var fmt = TabularOutput.Parse(parse.GetValue(format)!);
            TabularOutput.Write(console, fmt, $"Validation run {parse.GetValue(id)}", [run], ValidationResults.RunColumns);
            if (parse.GetValue(wrong))
            {
                var rows = await ValidationResults.WrongPredictionsAsync(account, parse.GetValue(id)!, parse.GetValue(top), ct);
                TabularOutput.Write(console, fmt, "Wrong predictions", rows, ValidationResults.WrongColumns);
            }
            return CommandTree.Success;
        });
        return command;
    }
}
