using System.CommandLine;
using Azure.Data.Tables;
using ConvNeXt.Batch.Cli.Sinks;
using ConvNeXt.Batch.Cli.Sources;
using ConvNeXt.Batch.Functions.Storage;
using ConvNeXt.Batch.Scoring.Pipeline;

namespace ConvNeXt.Batch.Cli.Commands;

/// <summary>
/// <c>watch --container NAME</c>: the local stand-in for Event Grid → Service Bus → ScoreImages.
/// Polls the container listing and scores every blob whose Predictions row is missing or was made
/// from a different version of the blob (ETag), until Ctrl+C.
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
        var table = new Option<string>("--table") { Description = "Results table", DefaultValueFactory = _ => TableNames.Predictions, HelpName = "NAME" };
        var quiet = new Option<bool>("--quiet", "-q") { Description = "Only the per-pass summary" };
        var command = new Command("watch", "Score blobs as they appear in a container (poll the listing; skip blobs already scored at the same ETag)")
        {
            container, prefix, interval, once, table, quiet,
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
            using var classifier = model.Load(parse, console);
            var options = pipelineOptions.Create(parse, classifier);
            var tableClient = account.Table(parse.GetValue(table)!);
            await tableClient.CreateIfNotExistsAsync(ct);
            var source = new BlobImageSource(containerName, parse.GetValue(prefix) ?? "");

            // What has been scored already, by blob name → blob ETag, read once then kept current.
            var scored = new Dictionary<string, string?>(StringComparer.Ordinal);
            var filter = TableClient.CreateQueryFilter($"PartitionKey eq {containerName}");
            await foreach (var row in tableClient.QueryAsync<PredictionEntity>(filter, select: ["BlobName", "BlobETag"], cancellationToken: ct))
                scored[row.BlobName] = row.BlobETag;

            console.Info($"watching blob://{containerName}/{source.Prefix} every {parse.GetValue(interval)} s (Ctrl+C to stop)");
            try
            {
                while (true)
                {
                    long skipped = 0;
                    var fresh = new List<ImageInput>();
                    await foreach (var (blob, input) in source.InputsAsync(blobs, ct))
                    {
                        if (scored.TryGetValue(blob.Name, out var etag) && etag == blob.Properties.ETag?.ToString())
                            skipped++;
                        else
                            fresh.Add(input);
                    }
                    if (fresh.Count > 0)
                    {
                        var pipeline = new ScoringPipeline(classifier, options);
                        await using var sink = await PredictionTableSink.CreateAsync(account, tableClient.Name, classifier, ct);
                        var summary = await ScoreCommand.RunAsync(console, pipeline, fresh.ToAsyncEnumerable(), fresh.Count, parse.GetValue(quiet),
                            async (result, _) =>
                            {
                                await sink.WriteAsync(containerName, result, ct);
                                scored[result.Id] = (result.State as Azure.Storage.Blobs.Models.BlobItem)?.Properties.ETag?.ToString();
                            }, ct);
                        console.Error.WriteLine($"{summary}; {skipped} already scored");
                    }
                    else if (!parse.GetValue(quiet) || parse.GetValue(once))
                    {
                        console.Error.WriteLine($"no new blobs; {skipped} already scored");
                    }
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
