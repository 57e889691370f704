using System.Diagnostics.Metrics;
using ConvNeXt.Batch.Service.Api;
using ConvNeXt.Batch.Service.Composition;
using ConvNeXt.Batch.Service.Observability;
using ConvNeXt.Batch.Service.Queries;
using ConvNeXt.Batch.Service.Reports;
using ConvNeXt.Batch.Service.Services;
using ConvNeXt.Batch.Service.Validation;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;

namespace ConvNeXt.Batch.Service.Tests;

/// <summary><see cref="ConvNeXtBatchServices.AddConvNeXtBatch"/>: every host's services, from configuration, checked at start.</summary>
public class CompositionTests
{
    private static ServiceProvider Build(params (string Key, string Value)[] settings)
    {
        var values = new Dictionary<string, string?> { ["Storage:ConnectionString"] = "UseDevelopmentStorage=true" };
        foreach (var (key, value) in settings)
            values[key] = value;
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(values).Build();
        return new ServiceCollection().AddConvNeXtBatch(configuration).BuildServiceProvider(new ServiceProviderOptions { ValidateOnBuild = true });
    }

    [Fact]
    public void Settings_reach_every_service_that_reads_them()
    {
        using var services = Build(("Validation:StallTimeout", "00:00:30"), ("Reports:PageSize", "7"), ("Scoring:BatchSize", "4"));
        services.GetRequiredService<IStartupValidator>().Validate();
        // The stall check inside the queries, the reports and the validation service is the configured one, not a default.
        Assert.Equal(TimeSpan.FromSeconds(30), services.GetRequiredService<StalledRuns>().Timeout);
        Assert.Equal(7, services.GetRequiredService<ReportService>().Options.PageSize);
        Assert.Equal(4, services.GetRequiredService<ScoringOptions>().BatchSize);
        Assert.Same(services.GetRequiredService<IOptions<ScoringOptions>>().Value, services.GetRequiredService<ScoringOptions>());
    }

    [Fact]
    public void Every_service_resolves_and_shares_one_meter()
    {
        var published = 0;
        using var listener = new MeterListener();
        listener.InstrumentPublished = (instrument, _) =>
        {
            if (instrument.Meter.Name == ScoringMetrics.MeterName && instrument.Name == "convnext.images.scored")
                Interlocked.Increment(ref published);
        };
        listener.Start();
        using var services = Build();
        foreach (var type in new[] { typeof(BlobScoringService), typeof(ValidationRunService), typeof(ValidationQueries), typeof(PredictionQueries),
                     typeof(ReportService), typeof(ThumbnailService), typeof(ServiceApi), typeof(ReportApi) })
            Assert.NotNull(services.GetRequiredService(type));
        Assert.Equal(1, published);
        Assert.Equal("ConvNeXt.Batch.Service", ScoringMetrics.MeterName);
    }

    [Theory]
    [InlineData("Scoring:BatchSize", "0", "Scoring__BatchSize must be at least 1 (is 0)")]
    [InlineData("Scoring:DownloadConcurrency", "-1", "Scoring__DownloadConcurrency must be at least 1 (is -1)")]
    [InlineData("Validation:ChunkSize", "5000", "Validation__ChunkSize must be between 1 and 1000 (is 5000)")]
    [InlineData("Validation:StallTimeout", "00:00:00", "Validation__StallTimeout must be positive (is 00:00:00)")]
    [InlineData("ValidationDefaults:Container", "UPPER", "ValidationDefaults__Container")]
    [InlineData("Reports:PageSize", "0", "Reports__PageSize must be at least 1 (is 0)")]
    [InlineData("Reports:ThumbnailContainers:5", "a", "Reports__ThumbnailContainers")]
    public void A_bad_setting_fails_the_start_naming_it(string key, string value, string message)
    {
        using var services = Build((key, value));
        var failure = Assert.Throws<OptionsValidationException>(() => services.GetRequiredService<IStartupValidator>().Validate());
        Assert.Contains(message, failure.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void No_storage_setting_fails_the_start_naming_both_ways_to_give_one()
    {
        var configuration = new ConfigurationBuilder().Build();
        using var services = new ServiceCollection().AddConvNeXtBatch(configuration).BuildServiceProvider();
        var failure = Assert.Throws<OptionsValidationException>(() => services.GetRequiredService<IStartupValidator>().Validate());
        Assert.Contains("Storage__ConnectionString (local) or Storage__BlobServiceUri and Storage__TableServiceUri (Azure) must be set", failure.Message, StringComparison.Ordinal);
    }
}
