using ConvNeXt.Batch.Functions.Handler;
using ConvNeXt.Batch.Service.Messaging;
using ConvNeXt.Batch.TestSupport;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.TestHost;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Options;

namespace ConvNeXt.Batch.Functions.Tests;

/// <summary>The handler as a host of the shared composition root and API map: settings checked at start, the common answers, the redelivery policy.</summary>
[Collection(FunctionsCollection.Name)]
public class ApiSurfaceTests(FunctionsFixture fixture)
{
    [Theory]
    [InlineData("Scoring:BatchSize", "0", "Scoring__BatchSize must be at least 1 (is 0)")]
    [InlineData("Validation:StallTimeout", "-00:05:00", "Validation__StallTimeout must be positive")]
    [InlineData("ValidationDefaults:Container", "Not_A_Container", "ValidationDefaults__Container")]
    [InlineData("Handler:ScoredContainers:0", "x", "Handler__ScoredContainers")]
    public async Task A_bad_setting_fails_the_handler_start_naming_the_setting(string key, string value, string message)
    {
        var settings = FunctionsFixture.Settings(fixture.ConnectionString);
        settings[key] = value;
        await using var app = HandlerApplication.Build([], b =>
        {
            b.WebHost.UseTestServer();
            b.Configuration.AddInMemoryCollection(settings);
        });
        var failure = await Assert.ThrowsAsync<OptionsValidationException>(() => app.StartAsync());
        Assert.Contains(message, failure.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_value_that_does_not_parse_fails_the_start_naming_its_key()
    {
        var settings = FunctionsFixture.Settings(fixture.ConnectionString);
        settings["Scoring:BatchSize"] = "sixteen";
        await using var app = HandlerApplication.Build([], b =>
        {
            b.WebHost.UseTestServer();
            b.Configuration.AddInMemoryCollection(settings);
        });
        var failure = await Assert.ThrowsAsync<InvalidOperationException>(() => app.StartAsync());
        Assert.Contains("Scoring:BatchSize", failure.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task The_handler_answers_the_shared_probes_as_the_api_map_does()
    {
        var answers = await ApiProbes.SendAsync(fixture.Client, r => r.Headers.Add("x-functions-key", FunctionsFixture.FunctionKey));
        Assert.Equal(ApiProbes.Expected, answers);
    }

    [Fact]
    public void The_redelivery_policy_gives_a_chunk_as_many_deliveries_as_the_queue_does()
    {
        // The handler relies on Service Bus to count deliveries; serve counts them itself with the same number.
        var bicep = File.ReadAllText(Path.Combine(Repository.Root, "Infrastructure", "modules", "servicebus.bicep"));
        var queue = bicep[bicep.IndexOf("resource validationChunks", StringComparison.Ordinal)..];
        var count = System.Text.RegularExpressions.Regex.Match(queue, @"maxDeliveryCount:\s*(\d+)").Groups[1].Value;
        Assert.Equal(RedeliveryPolicy.MaxDeliveries.ToString(System.Globalization.CultureInfo.InvariantCulture), count);
        Assert.Equal(Redelivery.Complete, RedeliveryPolicy.Classify(new ConvNeXt.Batch.Service.Validation.InvalidChunkException("bad")));
        Assert.Equal(Redelivery.Retry, RedeliveryPolicy.Classify(new ConvNeXt.Batch.Service.Services.InferenceUnavailableException("device")));
    }
}
