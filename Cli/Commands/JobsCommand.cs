using System.CommandLine;
using System.Globalization;
using ConvNeXt.Batch.Cli.Output;
using ConvNeXt.Batch.Service.Jobs;
using ConvNeXt.Batch.Service.Services;
using ConvNeXt.Batch.Service.Storage;

using Microsoft.Extensions.DependencyInjection;

namespace ConvNeXt.Batch.Cli.Commands;

/// <summary><c>jobs start | status ID | list | cancel ID</c>: scoring jobs, a backfill of what a container already holds.</summary>
internal static class JobsCommand
{
    public static Command Create(CliConsole console) => new("jobs", "Scoring jobs: score what a container already holds, with progress and cancellation")
    {
        Start(console),
        Status(console),
        List(console),
        Cancel(console),
    };

    private static readonly IReadOnlyList<(string, Func<ScoringJobStatus, object?>)> Columns =
    [
        ("job", j => j.JobId),
        ("status", j => j.Status),
        ("container", j => $"{j.Container}/{j.Prefix}"),
        ("model", j => j.Model),
        ("planned", j => j.PlanningDone ? j.Planned.ToString(CultureInfo.InvariantCulture) : $"{j.Planned}+"),
        ("done", j => j.Done),
        ("skipped", j => j.Skipped),
        ("failed", j => j.Failed),
        ("img/s", j => j.ImagesPerSecond),
        ("created", j => j.CreatedAt),
    ];

    /// <summary>
    /// Starts a job and runs it in this process, as <c>serve</c> does (the planner steps and chunks the queues would
    /// deliver, one after the other). The job id is printed first, so another terminal can follow or cancel it.
    /// </summary>
    private static Command Start(CliConsole console)
    {
        var container = new Option<string>("--container") { Description = "Container whose blobs to score", HelpName = "NAME", Required = true };
        var prefix = new Option<string?>("--prefix") { Description = "Only blobs whose name starts with PREFIX", HelpName = "PREFIX" };
        var chunkSize = new Option<int>("--chunk-size") { Description = "Blobs per chunk (one listing page)", DefaultValueFactory = _ => 100, HelpName = "N" };
        OptionParsing.Positive(chunkSize);
        var command = new Command("start", "Start a scoring job over a container and run it here; prints the job id, then progress") { container, prefix, chunkSize };
        // The model to score with: a repository model (NAME@VERSION, verified against its manifest; its rows go to its own
        // partition), or a model file as the other commands take it (the job names it by its model id).
        var model = new ModelCommandOptions(command, acceptsReference: true);
        var pipelineOptions = new PipelineOptions(command);
        var storage = new StorageConnectionOption(command);
        command.SetAction(async (parse, ct) =>
        {
            var account = await storage.OpenAsync(parse, ct);
            var name = parse.GetValue(container)!;
            if (BlobNames.ContainerProblem(name) is { } problem)
                throw new UsageException(problem);
            Service.Models.ModelManifest? manifest = null;
            Scoring.Inference.ImageClassifier classifier;
            if (model.Reference(parse) is { } reference)
                (classifier, manifest) = await RepositoryModels.LoadAsync(account, reference, model.Inference(parse), console, ct);
            else
                classifier = model.Load(parse, console);
            var settings = pipelineOptions.Settings(parse);
            settings["ScoringJobs:AllowedContainers:0"] = name;
            settings["ScoringJobs:ChunkSize"] = CommandServices.Setting(Math.Min(parse.GetValue(chunkSize), 5000));
            // The provider's engine owns (and disposes) the classifier.
            await using var services = CommandServices.Build(account, storage.Resolve(parse), settings, classifier, manifest: manifest);
            var jobs = services.GetRequiredService<ScoringJobService>();
            var modelName = manifest?.Reference.ToString() ?? classifier.ModelId;
            ScoringJobStatus job;
            JobPlanMessage first;
            try
            {
                (job, first) = await jobs.StartAsync(new ScoringJobRequest { Container = name, Prefix = parse.GetValue(prefix), Model = modelName }, ct);
            }
            catch (JobRequestException e)
            {
                throw new UsageException(e.Message);
            }
            console.Out.WriteLine(job.JobId);
            console.Out.Flush();
            using var progress = new ProgressLine(console.Error, console.ShowProgress, "img", null, job.JobId);
            var end = await jobs.RunAsync(first, now =>
            {
                progress.SetTotal(now.PlanningDone ? now.Planned : null);
                progress.Report(now.Done + now.Skipped + now.Failed);
            }, ct);
            progress.Dispose();
            console.Info(Describe(end));
            return CommandTree.Success;
        });
        return command;
    }

    private static Command Status(CliConsole console)
    {
        var id = new Argument<string>("ID") { Description = "Job id (as 'jobs start' printed it)" };
        var json = new Option<bool>("--json") { Description = "Print the status as JSON (the API's body)" };
        var command = new Command("status", "Show a job's status and counts") { id, json };
        var storage = new StorageConnectionOption(command);
        command.SetAction(async (parse, ct) =>
        {
            var jobs = Reader(await storage.OpenAsync(parse, ct));
            var job = await jobs.GetAsync(parse.GetValue(id)!, ct) ?? throw new UsageException($"no scoring job '{parse.GetValue(id)}'");
            if (parse.GetValue(json))
                console.Out.WriteLine(System.Text.Json.JsonSerializer.Serialize(job, TabularOutput.Json));
            else
                console.Out.WriteLine(Describe(job));
            return CommandTree.Success;
        });
        return command;
    }

    private static Command List(CliConsole console)
    {
        var format = new Option<string>("--format") { Description = "Output format", DefaultValueFactory = _ => "table", HelpName = "table|csv|json" }.AcceptOnlyFromAmong("table", "csv", "json");
        var command = new Command("list", "List scoring jobs (oldest first)") { format };
        var storage = new StorageConnectionOption(command);
        command.SetAction(async (parse, ct) =>
        {
            var page = await Reader(await storage.OpenAsync(parse, ct)).ListAsync(1000, null, ct);
            TabularOutput.Write(console, TabularOutput.Parse(parse.GetValue(format)!), "Scoring jobs", page.Items, Columns);
            return CommandTree.Success;
        });
        return command;
    }

    private static Command Cancel(CliConsole console)
    {
        var id = new Argument<string>("ID") { Description = "Job id" };
        var command = new Command("cancel", "Cancel a job: no new chunk is scored; what was scored stays") { id };
        var storage = new StorageConnectionOption(command);
        command.SetAction(async (parse, ct) =>
        {
            var job = await Reader(await storage.OpenAsync(parse, ct)).CancelAsync(parse.GetValue(id)!, ct)
                      ?? throw new UsageException($"no scoring job '{parse.GetValue(id)}'");
            console.Out.WriteLine(Describe(job));
            return CommandTree.Success;
        });
        return command;
    }

    /// <summary>A job service for reading and cancelling: those never resolve a model or score.</summary>
    private static ScoringJobService Reader(StorageAccount account) => new(account, null, new ScoringJobOptions());

    internal static string Describe(ScoringJobStatus j) => FormattableString.Invariant(
        $"{j.JobId} {j.Status}: {j.Container}/{j.Prefix} with {j.Model}; planned {j.Planned:N0}{(j.PlanningDone ? "" : " so far")}, done {j.Done:N0}, skipped {j.Skipped:N0}, failed {j.Failed:N0}, chunks {j.ChunksDone}/{j.ChunksPlanned}") +
        (j.ImagesPerSecond is { } rate ? FormattableString.Invariant($", {rate:0.0} img/s") : "") + (j.FailureReason is { } r ? $" ({r})" : "");
}
