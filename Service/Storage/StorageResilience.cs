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
                // The one retry layer: the SDK clients run with their own retries off (StorageAccount).
                ShouldHandle = args => ValueTask.FromResult(
                    args.Outcome.Exception is { } e && StorageFailures.IsTransient(e, args.Context.CancellationToken)),
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
}
