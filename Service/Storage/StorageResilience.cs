using System.Net.Sockets;
using Azure;
using Polly;
using Polly.Retry;
using Polly.Timeout;

namespace ConvNeXt.Batch.Service.Storage;

public sealed class StorageResilienceOptions
{
    public int MaxRetryAttempts { get; set; } = 5;
    public TimeSpan BaseDelay { get; set; } = TimeSpan.FromMilliseconds(200);
    public TimeSpan MaxDelay { get; set; } = TimeSpan.FromSeconds(10);
    public TimeSpan AttemptTimeout { get; set; } = TimeSpan.FromSeconds(60);

    /// <summary>
    /// Strategies added innermost, right around each attempt (e.g. Polly's chaos strategies for
    /// fault-injection tests), so the retry sees their failures as it would real ones.
    /// </summary>
    public Action<ResiliencePipelineBuilder>? ConfigureInner { get; set; }
}

public static class StorageResilience
{
    public static ResiliencePipeline Create(StorageResilienceOptions options)
    {
        var builder = new ResiliencePipelineBuilder()
            .AddRetry(new RetryStrategyOptions
            {
                ShouldHandle = new PredicateBuilder().Handle<Exception>(IsTransient),
                MaxRetryAttempts = options.MaxRetryAttempts,
                BackoffType = DelayBackoffType.Exponential,
                UseJitter = true,
                Delay = options.BaseDelay,
                MaxDelay = options.MaxDelay,
            })
            .AddTimeout(options.AttemptTimeout);
        options.ConfigureInner?.Invoke(builder);
        return builder.Build();
    }

    /// <summary>Failures worth another attempt: throttling, server errors, timeouts, broken connections.</summary>
    public static bool IsTransient(Exception exception) => exception switch
    {
        RequestFailedException e => e.Status is 0 or 408 or 429 or >= 500,
        TimeoutRejectedException => true,
        HttpRequestException => true,
        SocketException => true,
        IOException => true,
        _ => false,
    };
}
