using System.Globalization;
using ConvNeXt.Batch.Service.Api;
using ConvNeXt.Batch.Service.Models;
using ConvNeXt.Batch.Service.Observability;
using ConvNeXt.Batch.Service.Queries;
using ConvNeXt.Batch.Service.Reports;
using ConvNeXt.Batch.Service.Services;
using ConvNeXt.Batch.Service.Storage;
using ConvNeXt.Batch.Service.Validation;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace ConvNeXt.Batch.Service.Composition;

/// <summary>
/// The one composition root: every host (the Functions handler, <c>convnext-batch serve</c>, each CLI command) adds
/// the services with <see cref="AddConvNeXtBatch"/> and resolves them, so each options type is bound once, from
/// configuration, and checked when the host starts: a bad setting fails the start with the setting's name
/// (<c>Scoring__BatchSize must be at least 1 (is 0)</c>), not the first message that needs it.
/// </summary>
public static class ConvNeXtBatchServices
{
    /// <summary>
    /// Adds the options (sections <c>Storage</c>, <c>Model</c>, <c>Scoring</c>, <c>Validation</c>,
    /// <c>ValidationDefaults</c>, <c>Reports</c>) and the services, one instance of each per provider. A host replaces
    /// a registration after this call (e.g. the CLI's already loaded <see cref="ScoringEngine"/>).
    /// </summary>
    public static IServiceCollection AddConvNeXtBatch(this IServiceCollection services, IConfiguration configuration)
    {
        ArgumentNullException.ThrowIfNull(services);
        ArgumentNullException.ThrowIfNull(configuration);
        services.AddLogging();
        services.AddMetrics();

        services.AddSettings<StorageOptions>(configuration, StorageOptions.Section, o =>
        [
            string.IsNullOrWhiteSpace(o.ConnectionString) && (o.BlobServiceUri is null || o.TableServiceUri is null)
                ? "Storage__ConnectionString (local) or Storage__BlobServiceUri and Storage__TableServiceUri (Azure) must be set" : null,
        ]);
        services.AddSettings<ModelOptions>(configuration, ModelOptions.Section, _ => []);
        services.AddSettings<ScoringOptions>(configuration, ScoringOptions.Section, o =>
        [
            AtLeast(ScoringOptions.Section, nameof(o.BatchSize), o.BatchSize, 1),
            AtLeast(ScoringOptions.Section, nameof(o.MaxWaitMilliseconds), o.MaxWaitMilliseconds, 0),
            AtLeast(ScoringOptions.Section, nameof(o.IntraOpThreads), o.IntraOpThreads, 0),
            AtLeast(ScoringOptions.Section, nameof(o.DecodeTimeoutMilliseconds), o.DecodeTimeoutMilliseconds, 1),
            AtLeast(ScoringOptions.Section, nameof(o.DecodeWorkers), o.DecodeWorkers, 0),
            AtLeast(ScoringOptions.Section, nameof(o.DownloadConcurrency), o.DownloadConcurrency, 1),
            AtLeast(ScoringOptions.Section, nameof(o.MaxBlobBytes), o.MaxBlobBytes, 1),
            string.IsNullOrWhiteSpace(o.Device) ? "Scoring__Device must be cpu, cuda or cuda:N" : null,
        ]);
        services.AddSettings<ValidationOptions>(configuration, ValidationOptions.Section, o =>
        [
            o.ChunkSize is < 1 or > 1000 ? $"Validation__ChunkSize must be between 1 and 1000 (is {o.ChunkSize.ToString(CultureInfo.InvariantCulture)})" : null,
            o.StallTimeout <= TimeSpan.Zero ? $"Validation__StallTimeout must be positive (is {o.StallTimeout.ToString("c", CultureInfo.InvariantCulture)})" : null,
            AtLeast(ValidationOptions.Section, nameof(o.MaxFanOutBytes), o.MaxFanOutBytes, 1),
        ]);
        services.AddSettings<ValidationDefaultsOptions>(configuration, ValidationDefaultsOptions.Section, o =>
        [
            BlobNames.ContainerProblem(o.Container) is { } problem ? $"ValidationDefaults__Container: {problem}" : null,
        ]);
        services.AddSettings<ModelRepositoryOptions>(configuration, ModelRepositoryOptions.Section, o =>
        [
            AtLeast(ModelRepositoryOptions.Section, nameof(o.MaxLoaded), o.MaxLoaded, 1),
            AtLeast(ModelRepositoryOptions.Section, nameof(o.AliasCacheSeconds), o.AliasCacheSeconds, 0),
        ]);
        services.AddSettings<Jobs.ScoringJobOptions>(configuration, Jobs.ScoringJobOptions.Section, o =>
        [
            AtLeast(Jobs.ScoringJobOptions.Section, nameof(o.ChunkSize), o.ChunkSize, 1),
            AtLeast(Jobs.ScoringJobOptions.Section, nameof(o.PagesPerStep), o.PagesPerStep, 1),
            .. o.Allowed().Select(c => BlobNames.ContainerProblem(c) is { } problem ? $"ScoringJobs__AllowedContainers: {problem}" : null),
        ]);
        services.AddSettings<HealthOptions>(configuration, HealthOptions.Section, o =>
        [
            double.IsFinite(o.CacheSeconds) && o.CacheSeconds >= 0 ? null : $"Health__CacheSeconds must be a number of seconds, 0 or more (is {o.CacheSeconds})",
        ]);
        services.AddSettings<ReportOptions>(configuration, ReportOptions.Section, o =>
        [
            AtLeast(ReportOptions.Section, nameof(o.ThumbnailSize), o.ThumbnailSize, 1),
            AtLeast(ReportOptions.Section, nameof(o.WorstClasses), o.WorstClasses, 0),
            AtLeast(ReportOptions.Section, nameof(o.ConfusedPairs), o.ConfusedPairs, 0),
            AtLeast(ReportOptions.Section, nameof(o.ImagesPerPair), o.ImagesPerPair, 0),
            AtLeast(ReportOptions.Section, nameof(o.PageSize), o.PageSize, 1),
            .. (o.ThumbnailContainers ?? []).Select(c => BlobNames.ContainerProblem(c) is { } problem ? $"Reports__ThumbnailContainers: {problem}" : null),
        ]);

        services.AddSingleton(sp => new StorageAccount(sp.GetRequiredService<StorageOptions>()));
        services.AddSingleton(sp => new ScoringMetrics(sp.GetRequiredService<System.Diagnostics.Metrics.IMeterFactory>()));
        services.AddSingleton(sp => new ModelRepository(sp.GetRequiredService<StorageAccount>(), sp.GetRequiredService<ModelRepositoryOptions>()));
        services.AddSingleton(sp => new ModelCache(sp.GetRequiredService<ModelRepository>(), sp.GetRequiredService<ScoringOptions>(),
            sp.GetRequiredService<ModelRepositoryOptions>(), sp.GetRequiredService<ILogger<ModelCache>>()));
        services.AddSingleton(sp => new ScoringEngine(sp.GetRequiredService<ModelOptions>(), sp.GetRequiredService<ScoringOptions>(),
            sp.GetRequiredService<StorageAccount>(), sp.GetRequiredService<ILogger<ScoringEngine>>(), sp.GetRequiredService<ModelCache>()));
        services.AddSingleton<BlobImageReader>();
        services.AddSingleton<BlobDataset>();
        services.AddSingleton(sp => new BlobScoringService(sp.GetRequiredService<StorageAccount>(), sp.GetRequiredService<ScoringEngine>(),
            sp.GetRequiredService<ScoringOptions>(), sp.GetRequiredService<ScoringMetrics>(), sp.GetRequiredService<BlobImageReader>(),
            sp.GetRequiredService<ILogger<BlobScoringService>>()));
        services.TryAddSingleton(TimeProvider.System);
        services.AddSingleton(sp => new StalledRuns(sp.GetRequiredService<ValidationOptions>(), sp.GetRequiredService<TimeProvider>()));
        services.AddSingleton(sp => new ValidationRunStore(sp.GetRequiredService<StorageAccount>()));
        services.AddSingleton(sp => new ValidationRunFinalizer(sp.GetRequiredService<StorageAccount>(), sp.GetRequiredService<ValidationRunStore>(),
            sp.GetRequiredService<StalledRuns>(), sp.GetRequiredService<TimeProvider>(), sp.GetRequiredService<ILogger<ValidationRunFinalizer>>()));
        services.AddSingleton(sp => new ValidationRunPlanner(sp.GetRequiredService<StorageAccount>(), sp.GetRequiredService<ScoringEngine>(),
            sp.GetRequiredService<ValidationRunStore>(), sp.GetRequiredService<ValidationOptions>(), sp.GetRequiredService<ValidationDefaultsOptions>(),
            sp.GetRequiredService<TimeProvider>(), sp.GetRequiredService<ILogger<ValidationRunPlanner>>()));
        services.AddSingleton(sp => new ValidationChunkScorer(sp.GetRequiredService<StorageAccount>(), sp.GetRequiredService<ScoringEngine>(),
            sp.GetRequiredService<BlobImageReader>(), sp.GetRequiredService<ValidationRunStore>(), sp.GetRequiredService<ValidationRunFinalizer>(),
            sp.GetRequiredService<ScoringMetrics>(), sp.GetRequiredService<TimeProvider>()));
        services.AddSingleton(sp => new ValidationQueries(sp.GetRequiredService<ValidationRunStore>(), sp.GetRequiredService<StorageAccount>(),
            sp.GetRequiredService<StalledRuns>(), sp.GetRequiredService<ILogger<ValidationQueries>>()));
        services.AddSingleton<ValidationRunService>();
        services.AddSingleton<PredictionQueries>();
        services.AddSingleton<RunComparisons>();
        services.AddSingleton(sp => new Uploads.ImageUploader(sp.GetRequiredService<StorageAccount>(), new Uploads.ImageUploadOptions()));
        services.AddSingleton<ReportService>();
        services.AddSingleton(sp => new ThumbnailService(sp.GetRequiredService<StorageAccount>(), sp.GetRequiredService<ReportOptions>()));
        services.AddSingleton(sp => new ServiceHealth(sp.GetRequiredService<ScoringEngine>(), sp.GetRequiredService<StorageAccount>(),
            TimeSpan.FromSeconds(sp.GetRequiredService<HealthOptions>().CacheSeconds), sp.GetRequiredService<ILogger<ServiceHealth>>(),
            sp.GetRequiredService<TimeProvider>()));
        services.AddSingleton<ServiceApi>();
        services.AddSingleton(sp => new Jobs.JobModels(sp.GetRequiredService<ScoringEngine>(), sp.GetRequiredService<BlobScoringService>()));
        services.AddSingleton(sp => new Jobs.ScoringJobService(sp.GetRequiredService<StorageAccount>(), sp.GetRequiredService<Jobs.JobModels>(),
            sp.GetRequiredService<Jobs.ScoringJobOptions>(), sp.GetRequiredService<ILogger<Jobs.ScoringJobService>>()));
        services.AddSingleton<ScoringJobApi>();
        services.AddSingleton(sp => ReportLinkTokens.FromOptions(sp.GetRequiredService<ReportOptions>()));
        services.AddSingleton<ReportApi>();
        return services;
    }

    /// <summary>
    /// Binds <typeparamref name="T"/> to <paramref name="section"/>, checks it when the host starts (a problem names its
    /// setting) and registers the value itself, so services take the plain options type.
    /// </summary>
    /// <param name="problems">The settings that are wrong, one message each (null for a setting that is right).</param>
    public static IServiceCollection AddSettings<T>(this IServiceCollection services, IConfiguration configuration, string section,
        Func<T, IEnumerable<string?>> problems) where T : class
    {
        services.AddOptions<T>()
            .Bind(configuration.GetSection(section))
            .ValidateOnStart();
        services.AddSingleton<IValidateOptions<T>>(new SettingsValidator<T>(problems));
        services.AddSingleton(sp => sp.GetRequiredService<IOptions<T>>().Value);
        return services;
    }

    private static string? AtLeast(string section, string name, long value, long minimum) =>
        value >= minimum ? null
        : string.Create(CultureInfo.InvariantCulture, $"{section}__{name} must be at least {minimum} (is {value})");
}
