using ConvNeXt.Batch.Service.Composition;
using ConvNeXt.Batch.Service.Services;
using ConvNeXt.Batch.Service.Storage;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;

namespace ConvNeXt.Batch.Functions.Tests;

/// <summary>The services as the hosts compose them, over a test's own storage account (faults, counted traffic) and the fixture's model.</summary>
internal static class ServiceGraph
{
    /// <param name="settings">Configuration values (<c>Scoring:BatchSize</c>), as a host reads them.</param>
    public static ServiceProvider For(StorageAccount account, ScoringEngine engine, IReadOnlyDictionary<string, string?>? settings = null)
    {
        var values = new Dictionary<string, string?>(settings ?? new Dictionary<string, string?>()) { ["Storage:ConnectionString"] = "UseDevelopmentStorage=true" };
        var services = new ServiceCollection().AddConvNeXtBatch(new ConfigurationBuilder().AddInMemoryCollection(values).Build());
        // Instances, not factories: the provider does not dispose the fixture's engine.
        services.AddSingleton(account);
        services.AddSingleton(engine);
        return services.BuildServiceProvider();
    }
}
