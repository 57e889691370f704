using System.CommandLine;
using ConvNeXt.Batch.Cli.Output;
using ConvNeXt.Batch.Scoring.Inference;
using ConvNeXt.Batch.Cli.Sources;
using ConvNeXt.Batch.Service.Local;
using ConvNeXt.Batch.Service.Services;
using ConvNeXt.Batch.Service.Storage;
using Microsoft.Extensions.DependencyInjection;

namespace ConvNeXt.Batch.Cli.Commands;

/// <summary>
/// <c>score SOURCE</c>: every image of a folder or container → one record each. The command parses its
/// options and prints; a <see cref="LocalScoreRun"/> does the scoring and writes the rows.
/// </summary>
internal static class ScoreCommand
{
    public static Command Create(CliConsole console)
    {
        var source = new Argument<string?>("SOURCE") { Description = "Folder, or blob://container[/prefix]", Arity = ArgumentArity.ZeroOrOne };
        var output = new Option<string?>("--output", "-o") { Description = "Write records to FILE (.jsonl, .csv or .parquet); default: JSON lines on standard output unless --table", HelpName = "FILE" };
        output.Validators.Add(r =>
        {
            if (r.GetValueOrDefault<string?>() is { } path && Path.GetExtension(path).ToLowerInvariant() is not (".jsonl" or ".ndjson" or ".json" or ".csv" or ".parquet"))
                r.AddError($"--output must end in .jsonl, .csv or .parquet (got '{path}')");
        });
        OptionParsing.WritableFile(output);
        var table = new Option<string?>("--table") { Description = "Also upsert one row per image into this table (e.g. Predictions); blobs whose row already holds this version and model are not scored again", HelpName = "NAME" };
        table.Validators.Add(r =>
        {
            if (r.GetValueOrDefault<string?>() is { } name && TableNames.Problem(name) is { } problem)
                r.AddError(problem);
        });
        var container = new Option<string?>("--container") { Description = "Score this blob container instead of a folder", HelpName = "NAME" };
        var prefix = new Option<string?>("--prefix") { Description = "Only blobs whose name starts with PREFIX", HelpName = "PREFIX" };
        var quiet = new Option<bool>("--quiet", "-q") { Description = "No progress bar" };

        var command = new Command("score", "Score every image of a folder or blob container (read → decode → batch → infer → write)")
        {
            source, output, table, container, prefix, quiet,
        };
        var model = new ModelCommandOptions(command, acceptsReference: true);
        var pipelineOptions = new PipelineOptions(command);
        var storage = new StorageConnectionOption(command);
        command.Validators.Add(r =>
        {
            var value = r.GetValue(source);
            if (value is null && r.GetValue(container) is null)
                r.AddError("give a SOURCE folder, blob://container, or --container NAME");
            else if (value is not null && r.GetValue(container) is not null)
                r.AddError("give either SOURCE or --container, not both");
            else if (value is not null && !value.StartsWith("blob://", StringComparison.OrdinalIgnoreCase) && File.Exists(value))
                r.AddError($"{value} is a file; score takes a folder (or blob://container): for one image use 'predict {value}'");
            else if (value is not null && !value.StartsWith("blob://", StringComparison.OrdinalIgnoreCase) && !Directory.Exists(value))
                r.AddError($"folder not found: {value}");
        });

        command.SetAction(async (parse, ct) =>
        {
            var imageSource = ImageSource.Parse(parse.GetValue(source) ?? "", parse.GetValue(container), parse.GetValue(prefix));
            var tableName = parse.GetValue(table);
            // The output first: a path that cannot be written fails before the model loads.
            await using var fileWriter = parse.GetValue(output) is { } path ? PredictionWriter.Create(path)
                : tableName is null ? PredictionWriter.JsonLines(console.Out) : null;
            // A repository model (--model NAME@VERSION) is verified against its manifest before it loads; its rows
            // go to its own partition and every output record names it.
            Service.Models.ModelManifest? manifest = null;
            ImageClassifier classifier;
            if (model.Reference(parse) is { } reference)
                (classifier, manifest) = await RepositoryModels.LoadAsync(await storage.OpenAsync(parse, ct), reference, model.Inference(parse), console, ct);
            else
                classifier = model.Load(parse, console);
            StorageAccount? account;
            try
            {
                // A folder without --table needs no account; a container or a table does.
                account = imageSource is BlobImageSource blobSource ? await OpenContainerAsync(storage, parse, blobSource, ct)
                    : tableName is null ? null : await storage.OpenAsync(parse, ct);
            }
            catch
            {
                classifier.Dispose();
                throw;
            }
            // The provider's engine owns (and disposes) the classifier.
            await using var services = CommandServices.Build(account, account is null ? null : storage.Resolve(parse),
                pipelineOptions.Settings(parse), classifier, manifest: manifest);
            var engine = services.GetRequiredService<ScoringEngine>();
            var scoring = services.GetRequiredService<ScoringOptions>();
            // What every output record says about the model that scored it.
            var (stampModel, stampSha256) = (manifest?.Reference.ToString() ?? classifier.ModelId, classifier.ModelSha256);
            ScoreSummary summary;
            string where;
            using (var progress = new ProgressLine(console.Error, console.ShowProgress && !parse.GetValue(quiet), "img"))
            {
                var options = new LocalScoreRunOptions
                {
                    Pipeline = pipelineOptions.Create(parse, await engine.GetClassifierAsync(ct)),
                    Scoring = scoring,
                    Model = manifest?.Reference,
                    Table = tableName,
                    Progress = p =>
                    {
                        progress.SetTotal(p.Total);
                        progress.Report(p.Done, p.Errors);
                    },
                    RowReady = fileWriter is null ? null
                        : async (row, c) => await fileWriter.WriteAsync(new ScoreRecord(row.Source, row.Top, row.Error is null ? null : CommandTree.OneLine(row.Error))
                        {
                            Model = stampModel,
                            ModelSha256 = stampSha256,
                        }, c),
                };
                (summary, where) = imageSource switch
                {
                    BlobImageSource blobs => (await new LocalScoreRun(engine, options, account, services.GetRequiredService<BlobScoringService>())
                        .ScoreContainerAsync(blobs.Container, blobs.Prefix, ct), $"blob://{blobs.Container}/{blobs.Prefix}"),
                    FolderImageSource folder => (await new LocalScoreRun(engine, options, account)
                        .ScoreFilesAsync(folder.Folder, folder.Files().ToList(), ct), folder.Folder),
                    _ => throw new InvalidOperationException(),
                };
            }

            if (summary.NotImages > 0)
                console.Warn($"skipped {summary.NotImages} file(s) that are not images by extension (.jpg, .jpeg, .png, ...), e.g. {summary.FirstNotImage}");
            if (summary.Images + summary.Unchanged == 0)
                console.Warn($"no images found in {where}");
            var destinations = new List<string>();
            if (parse.GetValue(output) is { } written)
                destinations.Add(written);
            else if (fileWriter is not null)
                destinations.Add("standard output");
            if (tableName is not null)
                destinations.Add($"table {tableName}");
            console.Error.WriteLine($"{summary} → {string.Join(" and ", destinations)}");
            return CommandTree.Success;
        });
        return command;
    }

    private static async Task<StorageAccount> OpenContainerAsync(StorageConnectionOption storage, ParseResult parse, BlobImageSource blobs, CancellationToken ct)
    {
        var account = await storage.OpenAsync(parse, ct);
        if (!await account.Resilience.ExecuteAsync(async c => (await account.Container(blobs.Container).ExistsAsync(c)).Value, ct))
            throw new CommandFailedException($"container '{blobs.Container}' does not exist");
        return account;
    }
}
