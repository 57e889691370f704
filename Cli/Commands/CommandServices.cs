using System.Globalization;
using ConvNeXt.Batch.Scoring.Inference;
using ConvNeXt.Batch.Service.Composition;
using ConvNeXt.Batch.Service.Models;
using ConvNeXt.Batch.Service.Services;
using ConvNeXt.Batch.Service.Storage;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;

namespace ConvNeXt.Batch.Cli.Commands;

/// <summary>
/// A command's services, from the one composition root (<see cref="ConvNeXtBatchServices.AddConvNeXtBatch"/>): the
/// configuration is the environment (<c>Validation__StallTimeout</c>, <c>Reports__PageSize</c>, …) with the command's
/// options on top as the same settings (<c>--chunk-size</c> is <c>Validation:ChunkSize</c>). The settings are checked
/// before the command does anything: a bad one is a one-line usage error naming it.
/// </summary>
internal static class CommandServices
{
    /// <param name="account">The account the command opened (and checked is reachable).</param>
    /// <param name="connectionString">Its connection string, so the storage settings say what the account is.</param>
    /// <param name="settings">The command's options as configuration keys (<c>Scoring:BatchSize</c>); they win over the environment.</param>
    /// <param name="classifier">The model the command loaded; the provider's engine owns (and disposes) it.</param>
    /// <param name="configure">Adds or replaces a registration (serve's chunk queue).</param>
    /// <param name="manifest">The repository manifest <paramref name="classifier"/> was loaded and verified from, so rows name that model.</param>
    public static ServiceProvider Build(StorageAccount? account, string? connectionString, IReadOnlyDictionary<string, string?> settings,
        ImageClassifier? classifier = null, Action<IServiceCollection>? configure = null, Service.Models.ModelManifest? manifest = null)
    {
        var values = new Dictionary<string, string?>(settings, StringComparer.OrdinalIgnoreCase);
        // Without a connection string the account is either the instance given (registered below) or none at all (a
        // folder, a local validation): the placeholder only satisfies the start check of the storage settings.
        values[$"{StorageOptions.Section}:{nameof(StorageOptions.ConnectionString)}"] = connectionString ?? "UseDevelopmentStorage=true";
        var configuration = new ConfigurationBuilder().AddEnvironmentVariables().AddInMemoryCollection(values).Build();
        var services = new ServiceCollection();
        services.AddConvNeXtBatch(configuration);
        if (account is not null)
            services.AddSingleton(account);
        if (classifier is not null)
            services.AddSingleton(sp => manifest is null ? new ScoringEngine(classifier, sp.GetRequiredService<ScoringOptions>())
                : new ScoringEngine(classifier, sp.GetRequiredService<ScoringOptions>(), manifest));
        configure?.Invoke(services);
        var provider = services.BuildServiceProvider(new ServiceProviderOptions { ValidateOnBuild = true });
        try
        {
            provider.GetRequiredService<IStartupValidator>().Validate();
        }
        catch (OptionsValidationException e)
        {
            provider.Dispose();
            throw new UsageException(string.Join("; ", e.Failures));
        }
        catch (InvalidOperationException e)
        {
            // The binder could not convert a value (e.g. Scoring__BatchSize=abc); its message names the key.
            provider.Dispose();
            throw new UsageException(e.Message);
        }
        return provider;
    }

    /// <summary>
    /// The model repository over <paramref name="account"/>, with the <c>Models__*</c> settings of the environment. Only the
    /// repository and its options are resolved, so the provider holds nothing that needs disposing.
    /// </summary>
    public static ModelRepository Repository(StorageAccount account) =>
        Build(account, null, new Dictionary<string, string?>()).GetRequiredService<ModelRepository>();

    /// <summary>An option's value as a configuration value.</summary>
    public static string? Setting(object? value) => value switch
    {
        null => null,
        IFormattable f => f.ToString(null, CultureInfo.InvariantCulture),
        _ => value.ToString(),
    };
}
