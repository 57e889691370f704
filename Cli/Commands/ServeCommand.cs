using System.CommandLine;
using System.Globalization;
using ConvNeXt.Batch.Cli.Serving;
using ConvNeXt.Batch.Service.Api;
using ConvNeXt.Batch.Service.Contracts;
using ConvNeXt.Batch.Service.Queries;
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
/// Routes and answers come from <see cref="ServiceApi"/>, like the Functions handler's; what Service Bus
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
            Description = "Container of validation runs whose request names none",
            DefaultValueFactory = _ => ContainerNames.Validation, HelpName = "NAME",
        };
        var chunkSize = new Option<int>("--chunk-size") { Description = "Images per validation chunk", DefaultValueFactory = _ => 100, HelpName = "N" };
        OptionParsing.Positive(chunkSize);
        var command = new Command("serve",
            "Serve the HTTP API (predictions, validation runs, health) on this machine; validation runs execute in process")
        {
            port, watch, interval, validationContainer, chunkSize,
        };
        var model = new ModelOptions(command);
        var pipelineOptions = new PipelineOptions(command);
        var storage = new StorageConnectionOption(command);

        command.SetAction(async (parse, ct) =>
        {
            var account = await storage.OpenAsync(parse, ct);
            var classifier = model.Load(parse, console);
            using var engine = new ScoringEngine(classifier, pipelineOptions.Scoring(parse));
            var scoring = pipelineOptions.Scoring(parse);
            var validationOptions = new ValidationOptions { ChunkSize = parse.GetValue(chunkSize) };
            var queries = new ValidationQueries(account, new StalledRuns(account, validationOptions));
            var runs = new ValidationRunService(account, engine, new BlobImageReader(account, scoring), validationOptions,
                new ValidationDefaultsOptions { Container = parse.GetValue(validationContainer)! }, queries: queries);
            var api = new ServiceApi(new PredictionQueries(account), queries, runs, engine, account);
            var queue = new ChunkQueue(runs, console.Info);
            var reportOptions = new Service.Reports.ReportOptions();
            var reports = new Service.Reports.ReportApi(new Service.Reports.ReportService(account, reportOptions, queries),
                new Service.Reports.ThumbnailService(account, reportOptions), engine);

            var watched = parse.GetResult(watch) is null ? null : parse.GetValue(watch) ?? ContainerNames.Images;
            var jobs = new Service.Jobs.ScoringJobService(account, new Service.Jobs.JobModels(engine, new BlobScoringService(account, engine, scoring)),
                new Service.Jobs.ScoringJobOptions { AllowedContainers = new[] { ContainerNames.Images, watched }.OfType<string>().Distinct().ToArray() });
            using var stopJobs = CancellationTokenSource.CreateLinkedTokenSource(ct);
            var jobRunner = new JobRunner(jobs, console.Info, stopJobs.Token);

            var builder = WebApplication.CreateSlimBuilder();
            builder.Logging.ClearProviders();
            builder.WebHost.UseUrls(string.Create(CultureInfo.InvariantCulture, $"http://127.0.0.1:{parse.GetValue(port)}"));
            builder.Services.AddSingleton(api);
            builder.Services.AddSingleton(queue);
            builder.Services.AddSingleton(reports);
            builder.Services.AddSingleton(jobs);
            builder.Services.AddSingleton(new ScoringJobApi(jobs));
            builder.Services.AddSingleton(jobRunner);
            await using var app = builder.Build();
            Map(app);

            using var stop = CancellationTokenSource.CreateLinkedTokenSource(ct);
            var background = new List<Task> { queue.RunAsync(stop.Token) };
            if (parse.GetResult(watch) is not null)
            {
                var name = parse.GetValue(watch) ?? ContainerNames.Images;
                var images = account.Container(name);
                await account.Resilience.ExecuteAsync(async c => await images.CreateIfNotExistsAsync(cancellationToken: c), ct);
                var watcher = new ContainerWatcher(new BlobScoringService(account, engine, pipelineOptions.Scoring(parse)), name, null);
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
            console.Info($"serving the API on http://127.0.0.1:{parse.GetValue(port)}/api (model {classifier.ModelId}; Ctrl+C to stop)");
            if (storage.Configured(parse) is null)
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

    private static async Task<IResult> WriteAsync(HttpContext http, Service.Reports.ReportResponse response)
    {
        http.Response.StatusCode = response.StatusCode;
        http.Response.ContentType = response.ContentType;
        foreach (var (name, value) in response.Headers)
            http.Response.Headers[name] = value;
        await http.Response.Body.WriteAsync(response.Body, http.RequestAborted);
        return Results.Empty;
    }

    internal static void Map(WebApplication app)
    {
        // Anything the routes below do not answer (unknown path, wrong method) gets a JSON problem, not an empty body.
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

        // A failure the API does not classify (storage down, model missing) is a 503/500 with its reason, not an empty 500.
        app.Use(async (context, next) =>
        {
            try
            {
                await next(context);
            }
            catch (Exception e) when (!context.Response.HasStarted && !context.RequestAborted.IsCancellationRequested)
            {
                var unavailable = StorageFailures.IsTransient(e) || e is StorageUnavailableException;
                context.Response.StatusCode = unavailable ? StatusCodes.Status503ServiceUnavailable : StatusCodes.Status500InternalServerError;
                await context.Response.WriteAsJsonAsync(new ApiProblem(
                    unavailable ? $"storage unavailable: {CommandTree.OneLine(e.Message)}" : CommandTree.OneLine(e.Message)), ContractJson.Options);
            }
        });

        app.MapGet(ApiRoutes.Predictions, async (HttpRequest r, ServiceApi api, CancellationToken ct) =>
            Write(await api.ListPredictionsAsync(QueryOf(r), ct)));
        app.MapGet(ApiRoutes.Prediction, async (string container, string blob, ServiceApi api, CancellationToken ct) =>
            Write(await api.GetPredictionAsync(container, blob, ct)));
        app.MapGet(ApiRoutes.ValidationRuns, async (HttpRequest r, ServiceApi api, CancellationToken ct) =>
            Write(await api.ListValidationRunsAsync(QueryOf(r), ct)));
        app.MapPost(ApiRoutes.ValidationRuns, async (HttpRequest r, ServiceApi api, ChunkQueue queue, CancellationToken ct) =>
        {
            using var reader = new StreamReader(r.Body);
            var created = await api.CreateValidationRunAsync(await reader.ReadToEndAsync(ct), "http", ct);
            if (created.Value is { } plan)
                queue.Enqueue(plan.Chunks);
            return Write(created.Response);
        });
        app.MapGet(ApiRoutes.ValidationRunsCompare, async (HttpRequest r, ServiceApi api, CancellationToken ct) =>
            Write(await api.CompareValidationRunsAsync(QueryOf(r), ct)));
        app.MapGet(ApiRoutes.ValidationRun, async (string id, HttpRequest r, ServiceApi api, CancellationToken ct) =>
            Write(await api.GetValidationRunAsync(id, QueryOf(r), ct)));
        app.MapGet(ApiRoutes.Health, async (ServiceApi api, CancellationToken ct) => Write(await api.HealthAsync(ct)));
        // Scoring jobs run in process, through the same planner steps and chunks as the queues deliver.
        app.MapPost(ScoringJobApi.JobsRoute, async (HttpRequest r, ScoringJobApi jobs, JobRunner runner, CancellationToken ct) =>
        {
            using var reader = new StreamReader(r.Body);
            var started = await jobs.StartAsync(await reader.ReadToEndAsync(ct), ct);
            if (started.Value is { } first)
                runner.Start(first);
            return Write(started.Response);
        });
        app.MapGet(ScoringJobApi.JobsRoute, async (HttpRequest r, ScoringJobApi jobs, CancellationToken ct) => Write(await jobs.ListAsync(QueryOf(r), ct)));
        app.MapGet(ScoringJobApi.JobRoute, async (string id, ScoringJobApi jobs, CancellationToken ct) => Write(await jobs.GetAsync(id, ct)));
        app.MapPost(ScoringJobApi.CancelRoute, async (string id, ScoringJobApi jobs, CancellationToken ct) => Write(await jobs.CancelAsync(id, ct)));
        app.MapGet(Service.Reports.ReportApi.JobReportRoute, async (string id, HttpContext http, Service.Jobs.ScoringJobService jobs, CancellationToken ct) =>
            await WriteAsync(http, await Service.Reports.ReportApi.JobReportAsync(jobs, id, null, ct)));
        // The report pages, as the Functions handler serves them (no function key locally).
        app.MapGet(Service.Reports.ReportApi.RunReportRoute, async (string id, HttpContext http, Service.Reports.ReportApi reports, CancellationToken ct) =>
            await WriteAsync(http, await reports.RunReportAsync(id, null, ct)));
        app.MapGet(Service.Reports.ReportApi.CompareReportRoute, async (HttpContext http, Service.Reports.ReportApi reports, CancellationToken ct) =>
            await WriteAsync(http, await reports.CompareReportAsync(name => http.Request.Query[name], null, ct)));
        app.MapGet(Service.Reports.ReportApi.HistoryRoute, async (HttpContext http, Service.Reports.ReportApi reports, CancellationToken ct) =>
            await WriteAsync(http, await reports.HistoryAsync(name => http.Request.Query[name], null, ct)));
        app.MapGet(Service.Reports.ReportApi.PredictionsRoute, async (HttpContext http, Service.Reports.ReportApi reports, CancellationToken ct) =>
            await WriteAsync(http, await reports.PredictionsAsync(name => http.Request.Query[name], null, ct)));
        app.MapGet(Service.Reports.ReportApi.ThumbnailRoute, async (string container, string blob, HttpContext http, Service.Reports.ReportApi reports, CancellationToken ct) =>
            await WriteAsync(http, await reports.ThumbnailAsync(container, blob, ct)));
    }

    private static ApiQuery QueryOf(HttpRequest request) =>
        new(request.Query.Select(q => new KeyValuePair<string, string?>(q.Key, q.Value.ToString())));

    private static IResult Write(ApiResponse response) => Results.Json(response.Body, ContractJson.Options, statusCode: response.StatusCode);
}
