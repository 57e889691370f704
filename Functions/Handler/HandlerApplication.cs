using ConvNeXt.Batch.Api;
using ConvNeXt.Batch.Service.Composition;
using ConvNeXt.Batch.Service.Reports;
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
        services.AddConvNeXtBatch(configuration);
        services.AddSettings<HandlerOptions>(configuration, HandlerOptions.Section, o =>
            (o.ScoredContainers ?? []).Select(c => BlobNames.ContainerProblem(c) is { } problem ? $"Handler__ScoredContainers: {problem}" : null));
        // Direct requests to the API check the function key (see HandlerOptions.FunctionKey); POST /api/validation-runs
        // is the CreateValidationRun function, whose output binding sends the chunks, so no chunk sink is registered.
        services.AddSingleton<IApiAccess, FunctionKeyAccess>();
        // Every replica signs and checks report links with one key: the configured one, else one kept in storage. Read once,
        // when the first report request needs it (the scoring app never does), so a storage fault there is that request's 503.
        services.AddSingleton(sp => new StoredLinkSigningKey(sp.GetRequiredService<StorageAccount>()));
        services.AddSingleton(sp => ReportLinkTokens.FromOptions(sp.GetRequiredService<ReportOptions>(),
            () => sp.GetRequiredService<StoredLinkSigningKey>().GetOrCreateAsync().GetAwaiter().GetResult()));
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

        // Forwarded HTTP functions (the host passes the original request through): the API every host maps.
        app.MapConvNeXtBatchApi();
        app.MapGet("/", () => Results.Ok());
    }
}
