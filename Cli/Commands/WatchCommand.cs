using System.CommandLine;
using System.Globalization;
using ConvNeXt.Batch.Service.Services;
using ConvNeXt.Batch.Service.Storage;

namespace ConvNeXt.Batch.Cli.Commands;

/// <summary>
/// <c>watch --container NAME</c>: the local stand-in for Event Grid → Service Bus → ScoreImages.
/// Polls the container listing and hands it to the same <see cref="BlobScoringService"/> the
/// function uses, which skips blobs whose Predictions row already holds the same ETag (and model),
/// until Ctrl+C.
/// </summary>
internal static class WatchCommand
{
    public static Command Create(CliConsole console)
    {
        var container = new Option<string>("--container") { Description = "Container to watch", DefaultValueFactory = _ => "images", HelpName = "NAME" };
        var prefix = new Option<string?>("--prefix") { Description = "Only blobs whose name starts with PREFIX", HelpName = "PREFIX" };
        var interval = new Option<double>("--interval") { Description = "Seconds between listings", DefaultValueFactory = _ => 5, HelpName = "SECONDS" };
        interval.Validators.Add(r =>
        {
            if (r.GetValueOrDefault<double>() is var s && (s <= 0 || !double.IsFinite(s)))
                r.AddError("--interval must be a positive number of seconds");
        });
        var once = new Option<bool>("--once") { Description = "One pass over the container, then exit" };
        var command = new Command("watch", "Score blobs into Predictions as they appear (poll the listing; skip blobs already scored at the same ETag)")
        {
            container, prefix, interval, once,
        };
        var model = new ModelOptions(command);
        var pipelineOptions = new PipelineOptions(command);
        var storage = new StorageConnectionOption(command);

        command.SetAction(async (parse, ct) =>
        {
            var account = ResultsCommand.Account(storage, parse);
            var containerName = parse.GetValue(container)!;
            var blobs = account.Container(containerName);
            await account.Resilience.ExecuteAsync(async c => await blobs.CreateIfNotExistsAsync(cancellationToken: c), ct);
            var classifier = model.Load(parse, console);
            using var engine = new ScoringEngine(classifier, pipelineOptions.Scoring(parse));
            var service = new BlobScoringService(account, engine, pipelineOptions.Scoring(parse));

            console.Info(string.Create(CultureInfo.InvariantCulture,
                $"watching blob://{containerName}/{parse.GetValue(prefix)} every {parse.GetValue(interval)} s (Ctrl+C to stop)"));
            try
            {
                while (true)
                {
                    var started = System.Diagnostics.Stopwatch.StartNew();
                    var result = await service.ScoreContainerAsync(containerName, parse.GetValue(prefix), ct);
                    var (scored, failed) = (result.Scored, result.Failed);
                    if (scored + failed > 0 || parse.GetValue(once))
                        console.Error.WriteLine(string.Create(CultureInfo.InvariantCulture,
                            $"{DateTime.Now:HH:mm:ss} scored {scored}, failed {failed}, skipped {result.Skipped} (already scored) in {started.Elapsed.TotalSeconds:F1} s"));
                    if (parse.GetValue(once))
                        break;
                    await Task.Delay(TimeSpan.FromSeconds(parse.GetValue(interval)), ct);
                }
            }
            catch (OperationCanceledException) when (ct.IsCancellationRequested)
            {
                console.Info("stopped");
            }
            return CommandTree.Success;
        });
        return command;
    }
}
