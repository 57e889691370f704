using System.Text.Json;
using Azure.Monitor.OpenTelemetry.Exporter;
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
using OpenTelemetry.Metrics;
using OpenTelemetry.Trace;

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
        builder.Logging.Configure(o => o.ActivityTrackingOptions =
            ActivityTrackingOptions.TraceId | ActivityTrackingOptions.SpanId);
        builder.Logging.AddSimpleConsole(o => { o.IncludeScopes = true; o.SingleLine = true; });
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
        services.AddSingleton(sp => new BlobScoringService(sp.GetRequiredService<StorageAccount>(), sp.GetRequiredService<ScoringEngine>(),
            sp.GetRequiredService<ScoringOptions>(), sp.GetRequiredService<ScoringMetrics>(), sp.GetService<ILogger<BlobScoringService>>()));
        services.AddSingleton(sp => new ValidationRunService(sp.GetRequiredService<StorageAccount>(), sp.GetRequiredService<ScoringEngine>(),
            sp.GetRequiredService<ValidationOptions>(), sp.GetRequiredService<ValidationDefaultsOptions>(), sp.GetRequiredService<ScoringMetrics>(),
            sp.GetService<ILogger<ValidationRunService>>()));
        services.AddSingleton(sp => new PredictionQueries(sp.GetRequiredService<StorageAccount>()));
        services.AddSingleton(sp => new ValidationQueries(sp.GetRequiredService<StorageAccount>()));
        services.AddSingleton<FunctionInvocations>();
        services.ConfigureHttpJsonOptions(o =>
        {
            o.SerializerOptions.DefaultIgnoreCondition = System.Text.Json.Serialization.JsonIgnoreCondition.WhenWritingNull;
        });

        // Metrics and traces through OpenTelemetry; to Application Insights when a connection string is set
        // (Entra auth via APPLICATIONINSIGHTS_AUTHENTICATION_STRING is read by the exporter itself).
        var appInsights = configuration["APPLICATIONINSIGHTS_CONNECTION_STRING"];
        var otel = services.AddOpenTelemetry()
            .WithMetrics(m =>
            {
                m.AddMeter(ScoringMetrics.MeterName);
                if (!string.IsNullOrEmpty(appInsights))
                    m.AddAzureMonitorMetricExporter(o => o.ConnectionString = appInsights);
            })
            .WithTracing(t =>
            {
                t.AddSource(ScoringMetrics.MeterName);
                if (!string.IsNullOrEmpty(appInsights))
                    t.AddAzureMonitorTraceExporter(o => o.ConnectionString = appInsights);
            });
        if (!string.IsNullOrEmpty(appInsights))
            logging?.AddOpenTelemetry(o =>
            {
                o.IncludeScopes = true;
                o.AddAzureMonitorLogExporter(e => e.ConnectionString = appInsights);
            });
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

        // Forwarded HTTP functions (the host passes the original request through).
        app.MapGet("/api/predictions", (HttpRequest r, PredictionQueries q, CancellationToken ct) => Query(async () =>
            await q.ListAsync(new PredictionQuery
            {
                Container = r.Query["container"], Prefix = r.Query["prefix"], Status = r.Query["status"], Wnid = r.Query["wnid"],
                Top = ParseTop(r.Query["top"]), ContinuationToken = r.Query["continuationToken"],
            }, ct)));
        app.MapGet("/api/predictions/{container}/{**blob}", (string container, string blob, PredictionQueries q, CancellationToken ct) => Query(async () =>
            await q.GetAsync(container, blob, ct)));
        app.MapGet("/api/validation-runs", (HttpRequest r, ValidationQueries q, CancellationToken ct) => Query(async () =>
            await q.ListRunsAsync(ParseTop(r.Query["top"]), r.Query["continuationToken"], ct)));
        app.MapGet("/api/validation-runs/{id}", (string id, HttpRequest r, ValidationQueries q, ScoringEngine engine, CancellationToken ct) => Query<object>(async () =>
        {
            if (string.Equals(r.Query["wrong"], "true", StringComparison.OrdinalIgnoreCase))
                return await q.GetRunSummaryAsync(id, ct) is null ? null : await q.ListWrongAsync(id, ParseTop(r.Query["top"]), r.Query["continuationToken"], ct);
            return await q.GetRunAsync(id, ct, engine.IsLoaded ? (await engine.GetClassifierAsync(ct)).Labels : null);
        }));
        app.MapGet("/api/health", async (ScoringEngine engine, StorageAccount storage, CancellationToken ct) =>
        {
            var reachability = await StorageHealth.CheckAsync(storage, ct);
            try
            {
                var model = await engine.GetModelInfoAsync(ct);
                var healthy = reachability.Blob is null && reachability.Table is null;
                return Results.Json(new
                {
                    status = healthy ? "Healthy" : "Unhealthy", modelLoaded = true, modelId = model.ModelId, sha256 = model.Sha256,
                    executionProvider = model.ExecutionProvider, classes = model.ClassCount,
                    storage = new { blob = reachability.Blob ?? "reachable", table = reachability.Table ?? "reachable" },
                }, statusCode: healthy ? 200 : 503);
            }
            catch (Exception e) when (e is ModelIntegrityException or Scoring.Inference.ModelLoadException || StorageFailures.Classify(e) == StorageFailureKind.Transient
                                      || e is Azure.RequestFailedException or IOException)
            {
                return Results.Json(new
                {
                    status = "Unhealthy", modelLoaded = false, error = e.Message,
                    storage = new { blob = reachability.Blob ?? "reachable", table = reachability.Table ?? "reachable" },
                }, statusCode: 503);
            }
        });
        app.MapGet("/", () => Results.Ok());
    }

    private static int? ParseTop(string? value) =>
        string.IsNullOrEmpty(value) ? null
        : int.TryParse(value, System.Globalization.NumberStyles.Integer, System.Globalization.CultureInfo.InvariantCulture, out var top) ? top
        : throw new QueryArgumentException("top must be an integer");

    private static async Task<IResult> Query<T>(Func<Task<T?>> run)
    {
        try
        {
            var result = await run();
            return result is null ? Results.NotFound(new { error = "not found" }) : Results.Json(result, ContractJson.Options);
        }
        catch (ArgumentException e)
        {
            return Results.BadRequest(new { error = e.Message });
        }
    }
}
