using System.CommandLine;
using System.Globalization;
using ConvNeXt.Batch.Api;
using ConvNeXt.Batch.Cli.Serving;
using ConvNeXt.Batch.Service.Api;
using ConvNeXt.Batch.Service.Contracts;
using ConvNeXt.Batch.Service.Services;
using ConvNeXt.Batch.Service.Storage;
using ConvNeXt.Batch.Service.Validation;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace ConvNeXt.Batch.Cli.Commands;

/// <summary>
/// <c>serve</c>: the service's HTTP API on one machine, over a storage account (Azurite by default).
/// Routes and answers are the shared API map's (<see cref="ApiEndpoints.MapConvNeXtBatchApi"/>), like the Functions handler's; what Service Bus
/// and Event Grid do in Azure happens in this process (<see cref="ChunkQueue"/>, <see cref="ContainerWatcher"/>).
/// </summary>
internal static class ServeCommand
{
    public static Command Create(CliConsole console)
    {
        var port = new Option<int>("--port") { Description = "TCP port on 127.0.0.1", DefaultValueFactory = _ => 7071, HelpName = "N" };
        port.Validators.Add(r =>
        {
            if (r.GetValueOrDefault<int>() is < 1 or > 65535)
                r.AddError("--port must be between 1 and 65535");
        });
        var watch = new Option<string?>("--watch")
        {
            Description = "Also score blobs as they appear in this container (default images), like Event Grid does in Azure",
            HelpName = "CONTAINER",
            Arity = ArgumentArity.ZeroOrOne,
        };
        var interval = new Option<double>("--interval") { Description = "Seconds between listings of the watched container", DefaultValueFactory = _ => 5, HelpName = "SECONDS" };
        interval.Validators.Add(r =>
        {
            if (r.GetValueOrDefault<double>() is var s && (s <= 0 || !double.IsFinite(s)))
                r.AddError("--interval must be a positive number of seconds");
        });
        var validationContainer = new Option<string>("--validation-container")
        {
            Description = "Container of validation runs whose request names none; the only container a POSTed run may read",
            DefaultValueFactory = _ => ContainerNames.Validation, HelpName = "NAME",
        };
        var chunkSize = new Option<int>("--chunk-size") { Description = "Images per validation chunk", DefaultValueFactory = _ => 100, HelpName = "N" };
        OptionParsing.Positive(chunkSize);
        var command = new Command("serve",
            "Serve the HTTP API (predictions, validation runs, health) on this machine; validation runs execute in process")
        {
            port, watch, interval, validationContainer, chunkSize,
        };
        var model = new ModelCommandOptions(command);
        var pipelineOptions = new PipelineOptions(command);
        var storage = new StorageConnectionOption(command);
        var localAzurite = new LocalAzuriteOption(command, storage);

        command.SetAction(async (parse, ct) =>
        {
            // Stopped (its process tree killed) when serve ends, by Ctrl+C or SIGTERM too.
            await using var azurite = await localAzurite.StartIfNeededAsync(parse, console, ct);
            var account = await storage.OpenAsync(parse, ct);
            var classifier = model.Load(parse, console);
            var settings = pipelineOptions.Settings(parse);
            settings["Validation:ChunkSize"] = CommandServices.Setting(parse.GetValue(chunkSize));
            settings["ValidationDefaults:Container"] = parse.GetValue(validationContainer);
            // Jobs may score the drop zone and the watched container.
            var watched = parse.GetResult(watch) is null ? null : parse.GetValue(watch) ?? ContainerNames.Images;
            var jobContainers = new[] { ContainerNames.Images, watched }.OfType<string>().Distinct().ToArray();
            for (var i = 0; i < jobContainers.Length; i++)
                settings[$"ScoringJobs:AllowedContainers:{i}"] = jobContainers[i];
            // The services are built and checked here (a bad setting is a usage error before anything listens); the
            // web host resolves the API from them.
            await using var services = CommandServices.Build(account, storage.Resolve(parse), settings, classifier,
                s => s.AddSingleton(sp => new ChunkQueue(sp.GetRequiredService<ValidationRunService>(), console.Info)));
            var queue = services.GetRequiredService<ChunkQueue>();
            // Scoring jobs run in process, through the same planner steps and chunks as the queues deliver.
            var jobs = services.GetRequiredService<Service.Jobs.ScoringJobService>();
            using var stopJobs = CancellationTokenSource.CreateLinkedTokenSource(ct);
            var jobRunner = new JobRunner(jobs, console.Info, stopJobs.Token);

            var builder = WebApplication.CreateSlimBuilder();
            builder.Logging.ClearProviders();
            builder.WebHost.UseUrls(string.Create(CultureInfo.InvariantCulture, $"http://127.0.0.1:{parse.GetValue(port)}"));
            builder.Services.AddSingleton(services.GetRequiredService<ServiceApi>());
            builder.Services.AddSingleton<IValidationChunkSink>(queue);
            builder.Services.AddSingleton(services.GetRequiredService<ReportApi>());
            builder.Services.AddSingleton(services.GetRequiredService<ScoringJobApi>());
            builder.Services.AddSingleton<IScoringJobSink>(jobRunner);
            await using var app = builder.Build();
            Map(app);

            using var stop = CancellationTokenSource.CreateLinkedTokenSource(ct);
            var background = new List<Task> { queue.RunAsync(stop.Token) };
            // What the StartValidationRun timer does before each scheduled run in Azure: runs that stalled end Failed (or are finalized).
            var sweep = new StalledRunSweep(services.GetRequiredService<ValidationRunFinalizer>(), services.GetRequiredService<ValidationOptions>().StallTimeout);
            background.Add(sweep.RunAsync(console.Info, stop.Token));
            if (parse.GetResult(watch) is not null)
            {
                var name = parse.GetValue(watch) ?? ContainerNames.Images;
                var images = account.Container(name);
                await account.Resilience.ExecuteAsync(async c => await images.CreateIfNotExistsAsync(cancellationToken: c), ct);
                var watcher = new ContainerWatcher(services.GetRequiredService<BlobScoringService>(), name, null);
                background.Add(watcher.RunAsync(TimeSpan.FromSeconds(parse.GetValue(interval)), p => console.Info($"{name}: {p.Describe()}"), stop.Token));
                console.Info($"watching blob://{name}/ every {parse.GetValue(interval).ToString(CultureInfo.InvariantCulture)} s");
            }
            try
            {
                await app.StartAsync(ct);
            }
            catch (IOException e)
            {
                throw new CommandFailedException($"cannot listen on 127.0.0.1:{parse.GetValue(port)}: {e.Message} (choose another --port)", e);
            }
            var origin = $"http://127.0.0.1:{parse.GetValue(port)}";
            console.Info($"serving the API on {origin}/api (model {classifier.ModelId}; Ctrl+C to stop)");
            console.Info($"  start here:  {origin}/");
            console.Info($"  run history: {origin}{ApiRoutes.History}");
            console.Info($"  predictions: {origin}{ApiRoutes.PredictionsReport}");
            if (!storage.IsConfigured(parse) && azurite is null)
                console.Info("storage: local Azurite; an in-memory Azurite forgets every result when it stops");
            // Ctrl+C cancels ct; SIGTERM (kill, docker stop, systemd) reaches the web host's lifetime instead,
            // which would otherwise swallow it and leave the process running: either one stops the server.
            using var shutdown = CancellationTokenSource.CreateLinkedTokenSource(ct, app.Lifetime.ApplicationStopping);
            try
            {
                await Task.Delay(Timeout.Infinite, shutdown.Token);
            }
            catch (OperationCanceledException) when (shutdown.IsCancellationRequested)
            {
                console.Info("stopping");
            }
            await stop.CancelAsync();
            await stopJobs.CancelAsync();
            try
            {
                await jobRunner.StopAsync();
                await Task.WhenAll(background);
            }
            catch (OperationCanceledException)
            {
                // The loops end by cancellation.
            }
            await app.StopAsync(CancellationToken.None);
            return CommandTree.Success;
        });
        return command;
    }

    internal static void Map(WebApplication app)
    {
        // Anything the API's routes do not answer (unknown path, wrong method) gets a JSON problem, not an empty body.
        app.UseStatusCodePages(async context =>
        {
            var http = context.HttpContext;
            var message = http.Response.StatusCode switch
            {
                StatusCodes.Status404NotFound => $"no API route {http.Request.Method} {http.Request.Path}; see docs/cli.md (serve)",
                StatusCodes.Status405MethodNotAllowed => $"{http.Request.Method} is not supported on {http.Request.Path}",
                // A route whose parameters did not bind, e.g. /api/predictions/images without a blob name.
                StatusCodes.Status400BadRequest => $"bad request {http.Request.Method} {http.Request.Path}: a part of the route is missing or malformed; see docs/cli.md (serve)",
                _ => $"HTTP {http.Response.StatusCode}",
            };
            await http.Response.WriteAsJsonAsync(new ApiProblem(message), ContractJson.Options);
        });
        // Before any route: a page in the user's browser must not drive or read this server (Host, Origin, Content-Type).
        app.UseMiddleware<LoopbackRequestGuard>();

        // The same routes as the Functions handler's; no key check on 127.0.0.1, and POST /api/validation-runs feeds the chunk queue.
        app.MapConvNeXtBatchApi();
        // The front door: a page linking every report and the API (the handler's "/" stays the host's probe).
        app.MapGet(Service.Reports.ReportNavigation.HomeRoute, (ReportApi reports) => ApiEndpoints.Write(reports.Home(Service.Reports.PageLinks.Direct)));
    }
}
