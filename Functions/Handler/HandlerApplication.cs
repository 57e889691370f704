using System.Text.Json;
using Azure.Monitor.OpenTelemetry.Exporter;
using ConvNeXt.Batch.Service.Api;
using ConvNeXt.Batch.Service.Contracts;
using ConvNeXt.Batch.Service.Models;
using ConvNeXt.Batch.Service.Observability;
using ConvNeXt.Batch.Service.Queries;
using ConvNeXt.Batch.Service.Services;
using ConvNeXt.Batch.Service.Storage;
using ConvNeXt.Batch.Service.Validation;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace ConvNeXt.Batch.Functions.Handler;

/// <summary>
/// The custom handler: an ASP.NET Core app listening on <c>FUNCTIONS_CUSTOMHANDLER_PORT</c>.
/// With <c>enableForwardingHttpRequest</c>, HTTP-only functions arrive as the original request
/// (<c>/api/...</c>); every other function arrives as <c>POST /{FunctionName}</c> with the invocation payload.
/// </summary>
public static class HandlerApplication
{
    /// <param name="configure">Runs before the services are added (configuration sources, test server).</param>
    /// <param name="overrideServices">Runs after (replace a registration, e.g. a storage account with fault injection).</param>
    public static WebApplication Build(string[] args, Action<WebApplicationBuilder>? configure = null, Action<IServiceCollection>? overrideServices = null)
    {
        var builder = WebApplication.CreateBuilder(args);
        var port = Environment.GetEnvironmentVariable("FUNCTIONS_CUSTOMHANDLER_PORT");
        if (!string.IsNullOrEmpty(port))
            builder.WebHost.UseUrls($"http://127.0.0.1:{port}");
        builder.Logging.ClearProviders();
        HandlerTelemetry.AddConsole(builder.Logging);
        configure?.Invoke(builder);
        AddServices(builder.Services, builder.Configuration, builder.Logging);
        overrideServices?.Invoke(builder.Services);
        var app = builder.Build();
        Map(app);
        return app;
    }

    public static void AddServices(IServiceCollection services, IConfiguration configuration, ILoggingBuilder? logging = null)
    {
        T Bind<T>(string section) where T : new()
        {
            var value = new T();
            configuration.GetSection(section).Bind(value);
            return value;
        }
        services.AddSingleton(Bind<StorageOptions>(StorageOptions.Section));
        services.AddSingleton(Bind<ModelOptions>(ModelOptions.Section));
        services.AddSingleton(Bind<ScoringOptions>(ScoringOptions.Section));
        services.AddSingleton(Bind<ValidationOptions>(ValidationOptions.Section));
        services.AddSingleton(Bind<ValidationDefaultsOptions>(ValidationDefaultsOptions.Section));
        services.AddSingleton(Bind<HandlerOptions>(HandlerOptions.Section));
        services.AddSingleton(sp => new StorageAccount(sp.GetRequiredService<StorageOptions>()));
        services.AddSingleton(sp => new ScoringMetrics(sp.GetService<System.Diagnostics.Metrics.IMeterFactory>()));
        services.AddSingleton(sp => new ScoringEngine(sp.GetRequiredService<ModelOptions>(), sp.GetRequiredService<ScoringOptions>(),
            sp.GetRequiredService<StorageAccount>(), sp.GetService<ILogger<ScoringEngine>>()));
        services.AddSingleton(sp => new BlobImageReader(sp.GetRequiredService<StorageAccount>(), sp.GetRequiredService<ScoringOptions>()));
        services.AddSingleton(sp => new BlobScoringService(sp.GetRequiredService<StorageAccount>(), sp.GetRequiredService<ScoringEngine>(),
            sp.GetRequiredService<ScoringOptions>(), sp.GetRequiredService<ScoringMetrics>(), sp.GetService<ILogger<BlobScoringService>>(),
            sp.GetRequiredService<BlobImageReader>()));
        services.AddSingleton(sp => new StalledRuns(sp.GetRequiredService<StorageAccount>(), sp.GetRequiredService<ValidationOptions>()));
        services.AddSingleton(sp => new ValidationQueries(sp.GetRequiredService<StorageAccount>(), sp.GetRequiredService<StalledRuns>(),
            sp.GetService<ILogger<ValidationQueries>>()));
        services.AddSingleton(sp => new ValidationRunService(sp.GetRequiredService<StorageAccount>(), sp.GetRequiredService<ScoringEngine>(),
            sp.GetRequiredService<BlobImageReader>(), sp.GetRequiredService<ValidationOptions>(), sp.GetRequiredService<ValidationDefaultsOptions>(),
            sp.GetRequiredService<ScoringMetrics>(), sp.GetService<ILogger<ValidationRunService>>(), sp.GetRequiredService<ValidationQueries>()));
        services.AddSingleton(sp => new PredictionQueries(sp.GetRequiredService<StorageAccount>()));
        services.AddSingleton(Bind<Service.Reports.ReportOptions>(Service.Reports.ReportOptions.Section));
        services.AddSingleton(sp => new Service.Reports.ReportService(sp.GetRequiredService<StorageAccount>(), sp.GetRequiredService<Service.Reports.ReportOptions>(),
            sp.GetRequiredService<ValidationQueries>()));
        services.AddSingleton(sp => new Service.Reports.ThumbnailService(sp.GetRequiredService<StorageAccount>(), sp.GetRequiredService<Service.Reports.ReportOptions>()));
        services.AddSingleton(sp => new ServiceApi(sp.GetRequiredService<PredictionQueries>(), sp.GetRequiredService<ValidationQueries>(),
            sp.GetRequiredService<ValidationRunService>(), sp.GetRequiredService<ScoringEngine>(), sp.GetRequiredService<StorageAccount>()));
        services.AddSingleton(sp => new Service.Reports.ReportApi(sp.GetRequiredService<Service.Reports.ReportService>(),
            sp.GetRequiredService<Service.Reports.ThumbnailService>(), sp.GetRequiredService<ScoringEngine>()));
        services.AddSingleton(Bind<Service.Jobs.ScoringJobOptions>(Service.Jobs.ScoringJobOptions.Section));
        services.AddSingleton(sp => new Service.Jobs.JobModels(sp.GetRequiredService<ScoringEngine>(), sp.GetRequiredService<BlobScoringService>()));
        services.AddSingleton(sp => new Service.Jobs.ScoringJobService(sp.GetRequiredService<StorageAccount>(), sp.GetRequiredService<Service.Jobs.JobModels>(),
            sp.GetRequiredService<Service.Jobs.ScoringJobOptions>(), sp.GetService<ILogger<Service.Jobs.ScoringJobService>>()));
        services.AddSingleton(sp => new ScoringJobApi(sp.GetRequiredService<Service.Jobs.ScoringJobService>()));
        services.AddSingleton<JobInvocations>();
        services.AddSingleton<FunctionInvocations>();
        services.ConfigureHttpJsonOptions(o =>
        {
            o.SerializerOptions.DefaultIgnoreCondition = System.Text.Json.Serialization.JsonIgnoreCondition.WhenWritingNull;
        });

        HandlerTelemetry.AddOpenTelemetry(services, configuration, logging);
    }

    public static void Map(WebApplication app)
    {
        // Function key check for HTTP functions reached directly (see HandlerOptions.FunctionKey).
        app.Use(async (context, next) =>
        {
            var path = context.Request.Path;
            if (path.StartsWithSegments("/api") && !path.StartsWithSegments("/api/health"))
            {
                var key = context.RequestServices.GetRequiredService<HandlerOptions>().FunctionKey;
                if (!FunctionKeys.IsAuthorized(key, context.Request.Headers[FunctionKeys.HeaderName], context.Request.Query[FunctionKeys.QueryName]))
                {
                    context.Response.StatusCode = StatusCodes.Status401Unauthorized;
                    await context.Response.WriteAsJsonAsync(new { error = "a function key is required" });
                    return;
                }
            }
            await next(context);
        });

        // Custom-handler invocations.
        app.MapPost("/ScoreImages", (HttpContext http, InvocationRequest request, FunctionInvocations f, CancellationToken ct) =>
            f.ScoreImagesAsync(http, request, ct));
        app.MapPost("/ScoreValidationChunk", (HttpContext http, InvocationRequest request, FunctionInvocations f, CancellationToken ct) =>
            f.ScoreValidationChunkAsync(http, request, ct));
        app.MapPost("/CreateValidationRun", (HttpContext http, InvocationRequest request, FunctionInvocations f, CancellationToken ct) =>
            f.CreateValidationRunAsync(http, request, ct));
        app.MapPost("/StartValidationRun", (HttpContext http, InvocationRequest request, FunctionInvocations f, ValidationDefaultsOptions d, CancellationToken ct) =>
            f.StartValidationRunAsync(http, request, d, ct));

        app.MapPost("/CreateScoringJob", (InvocationRequest request, JobInvocations f, CancellationToken ct) => f.CreateScoringJobAsync(request, ct));
        app.MapPost("/PlanScoringJob", (InvocationRequest request, JobInvocations f, CancellationToken ct) => f.PlanScoringJobAsync(request, ct));
        app.MapPost("/ScoreJobChunk", (InvocationRequest request, JobInvocations f, CancellationToken ct) => f.ScoreJobChunkAsync(request, ct));

        // Forwarded HTTP functions (the host passes the original request through); Service.Api answers them.
        app.MapGet(ApiRoutes.Predictions, async (HttpRequest r, ServiceApi api, CancellationToken ct) =>
            Write(await api.ListPredictionsAsync(QueryOf(r), ct)));
        app.MapGet(ApiRoutes.Prediction, async (string container, string blob, ServiceApi api, CancellationToken ct) =>
            Write(await api.GetPredictionAsync(container, blob, ct)));
        app.MapGet(ApiRoutes.ValidationRuns, async (HttpRequest r, ServiceApi api, CancellationToken ct) =>
            Write(await api.ListValidationRunsAsync(QueryOf(r), ct)));
        app.MapGet(ApiRoutes.ValidationRunsCompare, async (HttpRequest r, ServiceApi api, CancellationToken ct) =>
            Write(await api.CompareValidationRunsAsync(QueryOf(r), ct)));
        app.MapGet(ApiRoutes.ValidationRun, async (string id, HttpRequest r, ServiceApi api, CancellationToken ct) =>
            Write(await api.GetValidationRunAsync(id, QueryOf(r), ct)));
        app.MapGet(ApiRoutes.Health, async (ServiceApi api, CancellationToken ct) => Write(await api.HealthAsync(ct)));
        app.MapGet(ScoringJobApi.JobsRoute, async (HttpRequest r, ScoringJobApi api, CancellationToken ct) => Write(await api.ListAsync(QueryOf(r), ct)));
        app.MapGet(ScoringJobApi.JobRoute, async (string id, ScoringJobApi api, CancellationToken ct) => Write(await api.GetAsync(id, ct)));
        app.MapPost(ScoringJobApi.CancelRoute, async (string id, ScoringJobApi api, CancellationToken ct) => Write(await api.CancelAsync(id, ct)));
        ReportRoutes.Map(app);
        app.MapGet("/", () => Results.Ok());
    }

    /// <summary>The query string as Service.Api reads it.</summary>
    public static ApiQuery QueryOf(HttpRequest request) =>
        new(request.Query.Select(q => new KeyValuePair<string, string?>(q.Key, q.Value.ToString())));

    /// <summary>An API answer as the HTTP response.</summary>
    public static IResult Write(ApiResponse response) => Results.Json(response.Body, ContractJson.Options, statusCode: response.StatusCode);
}
