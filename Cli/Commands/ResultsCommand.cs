using System.CommandLine;
using System.Globalization;
using ConvNeXt.Batch.Cli.Output;
using ConvNeXt.Batch.Service.Queries;
using ConvNeXt.Batch.Service.Reports;
using ConvNeXt.Batch.Service.Storage;
using ConvNeXt.Batch.Scoring.Labels;
using Microsoft.Extensions.DependencyInjection;

namespace ConvNeXt.Batch.Cli.Commands;

/// <summary><c>results predictions | runs | run ID</c>: read the result tables.</summary>
internal static class ResultsCommand
{
    public static Command Create(CliConsole console) => new("results", "Query the Predictions and validation tables")
    {
        Predictions(console),
        Runs(console),
        Run(console),
        Report(console),
        CompareCommand.Create(console),
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
        var modelOption = new Option<string?>("--model")
        {
            Description = "Only rows of this repository model (NAME@VERSION, or NAME for its promoted version); default: the default model's rows of --container",
            HelpName = "NAME@VERSION",
        };
        modelOption.Validators.Add(r =>
        {
            if (r.GetValueOrDefault<string?>() is { } text && Service.Models.ModelReference.Problem(text) is { } problem)
                r.AddError(problem);
        });
        var top = TopOption(100);
        var all = new Option<bool>("--all") { Description = "Every matching row (no --top limit)" };
        var format = FormatOption();
        var command = new Command("predictions", "List rows of the Predictions table") { container, prefix, errors, wnid, modelOption, top, all, format };
        var storage = new StorageConnectionOption(command);
        command.Validators.Add(r =>
        {
            if (r.GetValue(prefix) is not null && r.GetValue(container) is null)
                r.AddError("--prefix needs --container");
        });
        command.SetAction(async (parse, ct) =>
        {
            var account = await storage.OpenAsync(parse, ct);
            await using var services = CommandServices.Build(account, storage.Resolve(parse), new Dictionary<string, string?>());
            var queries = services.GetRequiredService<PredictionQueries>();
            // The same rows the API's ?model= reads: that model's, else (for a container) the default model's.
            Service.Models.ModelReference? model = null;
            if (parse.GetValue(modelOption) is { } named)
                model = (await RepositoryModels.ManifestAsync(account, Service.Models.ModelReference.Parse(named), ct)).Reference;
            else if (parse.GetValue(container) is not null)
                model = await services.GetRequiredService<Service.Models.ModelRepository>().GetDefaultAsync(ct);
            var wanted = parse.GetValue(all) ? int.MaxValue : parse.GetValue(top);
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
                    Model = model,
                    Top = Math.Min(wanted - rows.Count, 1000),
                    ContinuationToken = token,
                }, ct);
                rows.AddRange(page.Items);
                token = page.ContinuationToken;
            }
            while (token is not null && rows.Count < wanted);

            var fmt = TabularOutput.Parse(parse.GetValue(format)!);
            TabularOutput.Write(console, fmt, "Predictions", rows, fmt == TabularFormat.Csv ? PredictionCsvColumns :
            [
                ("container", r => r.Container),
                ("blob", r => r.Blob),
                ("status", r => r.Status),
                ("top-1", r => r.Top.Count > 0 ? r.Top[0].Name : r.ErrorReason),
                ("p", r => r.Top.Count > 0 ? TabularOutput.Probability(r.Top[0].Probability) : null),
                ("top-2", r => r.Top.Count > 1 ? r.Top[1].Name : null),
                ("model", r => r.Model ?? r.ModelId),
                ("model sha256", r => r.ModelSha256),
                ("provider", r => r.ExecutionProvider),
                ("scored at", r => r.ScoredAt),
            ]);
            // A limit that cut the list is said, never silent.
            if (token is not null)
                console.Info($"more rows: --all, or --top N above {wanted.ToString(CultureInfo.InvariantCulture)}");
            return CommandTree.Success;
        });
        return command;
    }

    /// <summary>CSV rows carry the top-5 as <c>score</c>'s files do (<c>top1_index … top5_probability</c>).</summary>
    private static readonly IReadOnlyList<(string, Func<PredictionRecord, object?>)> PredictionCsvColumns =
    [
        ("container", r => r.Container),
        ("blob", r => r.Blob),
        ("status", r => r.Status),
        ("error", r => r.ErrorReason),
        .. Enumerable.Range(0, 5).SelectMany(k => new (string, Func<PredictionRecord, object?>)[]
        {
            ($"top{k + 1}_index", r => k < r.Top.Count ? r.Top[k].Index : null),
            ($"top{k + 1}_wnid", r => k < r.Top.Count ? r.Top[k].Wnid : null),
            ($"top{k + 1}_name", r => k < r.Top.Count ? r.Top[k].Name : null),
            ($"top{k + 1}_probability", r => k < r.Top.Count ? TabularOutput.Probability(r.Top[k].Probability) : null),
        }),
        ("model", r => r.ModelId),
        ("scored_at", r => r.ScoredAt),
    ];

    internal static readonly IReadOnlyList<(string, Func<ValidationRunSummary, object?>)> RunColumns =
    [
        // Most telling first: a narrow terminal leaves out the last columns (TabularOutput.Fit).
        ("run", r => r.RunId),
        ("status", r => r.Status),
        ("top-1 %", r => TabularOutput.Percent(r.Top1 * 100)),
        ("top-5 %", r => TabularOutput.Percent(r.Top5 * 100)),
        ("images", r => r.ImageCount ?? r.ExpectedImageCount),
        ("errors", r => r.ErrorCount),
        ("model", r => (r.Model ?? r.ModelId) + (r.Trained == false ? " UNTRAINED" : "")),
        ("dataset", r => $"{r.DatasetContainer}/{r.DatasetPrefix}"),
        ("reference top-1 %", r => TabularOutput.Percent(r.ReferenceTop1)),
        ("ECE %", r => TabularOutput.Percent(r.Ece * 100)),
        ("created", r => r.CreatedAt),
    ];

    private static readonly IReadOnlyList<(string, Func<ValidationPredictionRecord, object?>)> WrongColumns =
    [
        ("blob", r => r.Blob),
        ("label", r => r.LabelName ?? r.LabelWnid),
        ("predicted", r => r.Top.Count > 0 ? r.Top[0].Name ?? r.Top[0].Wnid : r.ErrorReason),
        ("p", r => r.Top.Count > 0 ? TabularOutput.Probability(r.Top[0].Probability) : null),
        ("in top-5", r => r.Correct5),
    ];

    private static Command Runs(CliConsole console)
    {
        var top = TopOption(20);
        var format = FormatOption();
        var command = new Command("runs", "List validation runs") { top, format };
        var storage = new StorageConnectionOption(command);
        command.SetAction(async (parse, ct) =>
        {
            await using var services = CommandServices.Build(await storage.OpenAsync(parse, ct), storage.Resolve(parse), new Dictionary<string, string?>());
            var page = await services.GetRequiredService<ValidationQueries>().ListRunsAsync(Math.Min(parse.GetValue(top), 1000), null, ct);
            TabularOutput.Write(console, TabularOutput.Parse(parse.GetValue(format)!), "Validation runs", page.Items, RunColumns);
            return CommandTree.Success;
        });
        return command;
    }

    private static Command Report(CliConsole console)
    {
        var id = new Argument<string>("RUN_ID") { Description = "Validation run id" };
        var output = new Option<string>("--output", "-o") { Description = "HTML file to write (self-contained: charts and images inside, opens offline)", HelpName = "FILE", Required = true };
        OptionParsing.WritableFile(output);
        var labels = new Option<string?>("--labels") { Description = "Class label table (LOC_synset_mapping.txt or synset_words.txt) to name the classes", HelpName = "FILE" };
        var command = new Command("report", "Write a validation run's report as one HTML file: accuracy with 95 % intervals against the published figures, per-class accuracy, most-confused pairs with images, confidence, calibration (ECE), errors by reason") { id, output, labels };
        var storage = new StorageConnectionOption(command);
        command.SetAction(async (parse, ct) =>
        {
            var account = Account(storage, parse);
            var runId = parse.GetValue(id)!;
            ValidationRunSummary run;
            await using (var lookup = CommandServices.Build(account, storage.Resolve(parse), new Dictionary<string, string?>()))
                run = await lookup.GetRequiredService<ValidationQueries>().GetRunSummaryAsync(runId, ct)
                      ?? throw new CommandFailedException($"no validation run '{runId}'");
            // The operator holds the account's connection string: the run's own dataset container is the one to read
            // (set after binding: the binder would append it to the default containers).
            await using var services = CommandServices.Build(account, storage.Resolve(parse), new Dictionary<string, string?>(),
                configure: s => s.PostConfigure<ReportOptions>(o => o.ThumbnailContainers = [run.DatasetContainer]));
            var table = parse.GetValue(labels) is { } labelFile ? ClassLabels.Load(labelFile) : null;
            console.Info($"reading run {runId} and its misclassified images from {run.DatasetContainer} ...");
            var html = await services.GetRequiredService<ReportService>().ValidationRunAsync(runId,
                           new EmbeddedImageLinks(services.GetRequiredService<ThumbnailService>()), table, ct)
                ?? throw new CommandFailedException($"no validation run '{runId}'");
            var path = parse.GetValue(output)!;
            await using (var file = new StreamWriter(OutputFile.Open(path), new System.Text.UTF8Encoding(false)))
                await file.WriteAsync(html.AsMemory(), ct);
            console.Out.WriteLine($"wrote {Path.GetFullPath(path)} ({new FileInfo(path).Length / 1024.0:0.0} KiB)");
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
        var labels = new Option<string?>("--labels") { Description = "Class label table (LOC_synset_mapping.txt or synset_words.txt) to name the classes of the most-confused pairs", HelpName = "FILE" };
        var command = new Command("run", "Show one validation run: metrics, reference comparison, most-confused pairs (and wrong predictions with --wrong)") { id, wrong, top, format, labels };
        var storage = new StorageConnectionOption(command);
        command.SetAction(async (parse, ct) =>
        {
            await using var services = CommandServices.Build(await storage.OpenAsync(parse, ct), storage.Resolve(parse), new Dictionary<string, string?>());
            var queries = services.GetRequiredService<ValidationQueries>();
            var runId = parse.GetValue(id)!;
            var table = parse.GetValue(labels) is { } labelFile ? ClassLabels.Load(labelFile) : null;
            var report = await queries.GetRunAsync(runId, table, ct) ?? throw new CommandFailedException($"no validation run '{runId}'");
            var fmt = TabularOutput.Parse(parse.GetValue(format)!);
            var wrongRows = parse.GetValue(wrong) ? (await queries.ListWrongAsync(runId, Math.Min(parse.GetValue(top), 1000), null, ct)).Items : null;
            if (fmt == TabularFormat.Json)
            {
                console.Out.WriteLine(System.Text.Json.JsonSerializer.Serialize(new { report, wrong = wrongRows }, TabularOutput.Json));
                return CommandTree.Success;
            }
            TabularOutput.Write(console, fmt, $"Validation run {runId}", [report.Run], RunColumns);
            if (fmt == TabularFormat.Table)
            {
                if (report.Comparison is { } c)
                    console.Out.WriteLine(FormattableString.Invariant(
                        $"reference ({c.Source}): top-1 {c.ReferenceTop1:F2} %, top-5 {c.ReferenceTop5:F2} %; measured minus reference: {c.Top1DeltaPoints:+0.00;-0.00} / {c.Top5DeltaPoints:+0.00;-0.00} points"));
                if (report.MostConfused.Count > 0)
                {
                    // Class names: from --labels, else from the run's own wrong predictions (which name both sides of every confused pair).
                    var names = new Dictionary<int, (string? Wnid, string? Name)>();
                    if (table is not null)
                        foreach (var label in table.All)
                            names[label.Index] = (label.Wnid, label.Name);
                    else
                        foreach (var row in wrongRows ?? (await queries.ListWrongAsync(runId, 1000, null, ct)).Items)
                        {
                            if (row.LabelName is not null || row.LabelWnid is not null)
                                names[row.LabelIndex] = (row.LabelWnid, row.LabelName);
                            foreach (var predicted in row.Top)
                                if (predicted.Name is not null || predicted.Wnid is not null)
                                    names[predicted.Index] = (predicted.Wnid, predicted.Name);
                        }
                    string Describe(int index, string? wnid)
                    {
                        names.TryGetValue(index, out var known);
                        var id = wnid ?? known.Wnid ?? index.ToString(System.Globalization.CultureInfo.InvariantCulture);
                        return known.Name is { } name ? $"{id} {name.Split(',')[0]}" : id;
                    }
                    TabularOutput.Write(console, fmt, "Most confused", report.MostConfused,
                    [
                        ("true", p => Describe(p.TrueIndex, p.TrueWnid)),
                        ("predicted", p => Describe(p.PredictedIndex, p.PredictedWnid)),
                        ("count", p => p.Count),
                    ]);
                }
            }
            if (wrongRows is not null)
                TabularOutput.Write(console, fmt, "Wrong predictions", wrongRows, WrongColumns);
            return CommandTree.Success;
        });
        return command;
    }
}
