using Azure.Core;
using Azure.Identity;
using Azure.Monitor.OpenTelemetry.Exporter;
using ConvNeXt.Batch.Service.Observability;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Console;
using OpenTelemetry.Logs;
using OpenTelemetry.Metrics;
using OpenTelemetry.Trace;

namespace ConvNeXt.Batch.Functions.Handler;

/// <summary>
/// The handler's logs, metrics and traces: console lines with real levels and key=value scopes (for
/// the host and Container Apps), and OpenTelemetry (meter <see cref="ScoringMetrics.MeterName"/>,
/// source <see cref="PipelineTracing.SourceName"/>) exported to Application Insights when
/// <c>APPLICATIONINSIGHTS_CONNECTION_STRING</c> is set.
/// </summary>
public static class HandlerTelemetry
{
    public const string ConnectionStringSetting = "APPLICATIONINSIGHTS_CONNECTION_STRING";

    public static void AddConsole(ILoggingBuilder logging)
    {
        logging.Configure(o => o.ActivityTrackingOptions = ActivityTrackingOptions.TraceId | ActivityTrackingOptions.SpanId);
        logging.AddConsole(o =>
        {
            o.FormatterName = KeyValueConsoleFormatter.FormatterName;
            // The host files a custom handler's stderr lines as errors: errors go there, the rest to stdout.
            o.LogToStandardErrorThreshold = LogLevel.Error;
        });
        logging.AddConsoleFormatter<KeyValueConsoleFormatter, ConsoleFormatterOptions>();
    }

    public static void AddOpenTelemetry(IServiceCollection services, IConfiguration configuration, ILoggingBuilder? logging)
    {
        var connectionString = configuration[ConnectionStringSetting];
        var credential = string.IsNullOrEmpty(connectionString) ? null : Credential(configuration);
        services.AddOpenTelemetry()
            .WithMetrics(m =>
            {
                m.AddMeter(ScoringMetrics.MeterName);
                if (!string.IsNullOrEmpty(connectionString))
                    m.AddAzureMonitorMetricExporter(o => Configure(o, connectionString, credential));
            })
            .WithTracing(t =>
            {
                t.AddSource(PipelineTracing.SourceName);
                // Telemetry__SamplingRatio (default 1: every trace; the deployment sets 0.1). Parent-based: an
                // invocation whose message arrived in a sampled trace is kept whole, so traces are never cut in half.
                t.SetSampler(new ParentBasedSampler(new TraceIdRatioBasedSampler(SamplingRatio(configuration))));
                if (!string.IsNullOrEmpty(connectionString))
                    t.AddAzureMonitorTraceExporter(o => Configure(o, connectionString, credential));
            });
        if (!string.IsNullOrEmpty(connectionString))
            logging?.AddOpenTelemetry(o =>
            {
                o.IncludeScopes = true;
                o.AddAzureMonitorLogExporter(e => Configure(e, connectionString, credential));
            });
    }

    /// <summary>The configured <c>Telemetry:SamplingRatio</c>, 0 to 1; unset or not a number in range is 1.</summary>
    public static double SamplingRatio(IConfiguration configuration) =>
        double.TryParse(configuration["Telemetry:SamplingRatio"], System.Globalization.NumberStyles.Float, System.Globalization.CultureInfo.InvariantCulture, out var ratio)
        && ratio is >= 0 and <= 1 ? ratio : 1.0;

    /// <summary>
    /// The Entra credential the exporter sends telemetry with. Application Insights runs with local
    /// auth disabled, so telemetry without a token is refused; the exporter does not read the host's
    /// APPLICATIONINSIGHTS_AUTHENTICATION_STRING, so the handler passes its own: the app's
    /// user-assigned managed identity (AZURE_CLIENT_ID), or the developer's sign-in locally.
    /// </summary>
    public static TokenCredential Credential(IConfiguration configuration)
    {
        var clientId = configuration["AZURE_CLIENT_ID"];
        return string.IsNullOrEmpty(clientId)
            ? new DefaultAzureCredential()
            : new ManagedIdentityCredential(ManagedIdentityId.FromUserAssignedClientId(clientId));
    }

    private static void Configure(AzureMonitorExporterOptions options, string connectionString, TokenCredential? credential)
    {
        options.ConnectionString = connectionString;
        options.Credential = credential;
    }
}
