using System.Diagnostics;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace ConvNeXt.Batch.Functions.Tests;

/// <summary>The function app as the host sees it: host.json, one function.json per function, the assembled folder.</summary>
public class FunctionAppLayoutTests
{
    private static readonly string[] Functions =
        ["ScoreImages", "StartValidationRun", "CreateValidationRun", "ScoreValidationChunk", "GetPredictions", "GetPrediction", "ListValidationRuns", "GetValidationRun", "Health", "HealthDetails",
         "GetValidationRunReport", "GetRunHistoryReport", "GetPredictionsReport", "GetThumbnail", "GetReportPage",
         "CompareValidationRuns", "GetRunComparisonReport",
         "CreateScoringJob", "PlanScoringJob", "ScoreJobChunk", "ListScoringJobs", "GetScoringJob", "CancelScoringJob", "GetScoringJobReport"];

    private static JsonNode Read(params string[] parts) => JsonNode.Parse(File.ReadAllText(Path.Combine([Repository.Root, .. parts])))!;

    private static JsonObject Binding(string function, string type) =>
        Read("Functions", "function-app", function, "function.json")["bindings"]!.AsArray().Single(b => b!["type"]!.GetValue<string>() == type)!.AsObject();

    [Fact]
    public void Host_json_runs_the_published_handler_with_the_v4_bundle()
    {
        var host = Read("host.json");
        Assert.Equal("2.0", host["version"]!.GetValue<string>());
        Assert.Equal("handler/convnext-batch-handler", host["customHandler"]!["description"]!["defaultExecutablePath"]!.GetValue<string>());
        Assert.True(host["customHandler"]!["enableForwardingHttpRequest"]!.GetValue<bool>());
        Assert.Equal("Microsoft.Azure.Functions.ExtensionBundle", host["extensionBundle"]!["id"]!.GetValue<string>());
        Assert.Equal("[4.*, 5.0.0)", host["extensionBundle"]!["version"]!.GetValue<string>());
        Assert.True(host["extensions"]!["serviceBus"]!["maxMessageBatchSize"]!.GetValue<int>() > 1);
        Assert.NotNull(host["functionTimeout"]);
    }

    [Fact]
    public void Each_function_has_the_bindings_the_handler_expects()
    {
        Assert.Equal(Functions.Order(), Directory.GetDirectories(Path.Combine(Repository.Root, "Functions", "function-app")).Select(Path.GetFileName).Order()!);
        var score = Binding("ScoreImages", "serviceBusTrigger");
        Assert.Equal(("messages", "score-requests", "many", "ServiceBusConnection"),
            (score["name"]!.GetValue<string>(), score["queueName"]!.GetValue<string>(), score["cardinality"]!.GetValue<string>(), score["connection"]!.GetValue<string>()));
        Assert.Equal(("message", "validation-chunks"),
            (Binding("ScoreValidationChunk", "serviceBusTrigger")["name"]!.GetValue<string>(), Binding("ScoreValidationChunk", "serviceBusTrigger")["queueName"]!.GetValue<string>()));
        foreach (var f in new[] { "StartValidationRun", "CreateValidationRun" })
        {
            var output = Binding(f, "serviceBus");
            Assert.Equal(("chunks", "out", "validation-chunks"), (output["name"]!.GetValue<string>(), output["direction"]!.GetValue<string>(), output["queueName"]!.GetValue<string>()));
        }
        Assert.Equal("%ValidationSchedule%", Binding("StartValidationRun", "timerTrigger")["schedule"]!.GetValue<string>());
        foreach (var f in new[] { "CreateValidationRun", "GetPredictions", "GetPrediction", "ListValidationRuns", "GetValidationRun",
                     "GetValidationRunReport", "GetRunHistoryReport", "GetPredictionsReport", "CompareValidationRuns", "GetRunComparisonReport",
                     "CreateScoringJob", "ListScoringJobs", "GetScoringJob", "CancelScoringJob", "GetScoringJobReport" })
            Assert.Equal("function", Binding(f, "httpTrigger")["authLevel"]!.GetValue<string>());
        // An <img> request carries no key: the handler checks the page's signed link (ThumbnailAccess).
        Assert.Equal("anonymous", Binding("GetThumbnail", "httpTrigger")["authLevel"]!.GetValue<string>());
        // A link a browser follows carries no key either: the pages' own links go to their mirror, where the handler
        // accepts a page's signed link and nothing else (FunctionKeyAccess.IsPageAuthorized).
        Assert.Equal("anonymous", Binding("GetReportPage", "httpTrigger")["authLevel"]!.GetValue<string>());
        Assert.Equal("pages/{*page}", Binding("GetReportPage", "httpTrigger")["route"]!.GetValue<string>());
        Assert.Equal("predictions/{container}/{*blob}", Binding("GetPrediction", "httpTrigger")["route"]!.GetValue<string>());
        // Health: the status for anyone (the platform's probes, a load balancer); the details only with a key.
        Assert.Equal(("anonymous", "health"), (Binding("Health", "httpTrigger")["authLevel"]!.GetValue<string>(), Binding("Health", "httpTrigger")["route"]!.GetValue<string>()));
        Assert.Equal(("function", "health/details"), (Binding("HealthDetails", "httpTrigger")["authLevel"]!.GetValue<string>(), Binding("HealthDetails", "httpTrigger")["route"]!.GetValue<string>()));
    }

    [Fact]
    public async Task Assemble_script_lays_out_the_function_app()
    {
        var output = Path.Combine(Path.GetTempPath(), "convnext-fa-" + Guid.NewGuid().ToString("N")[..8]);
        try
        {
            var start = new ProcessStartInfo("bash", [Path.Combine(Repository.Root, "scripts", "assemble-functionapp.sh"), "--out", output, "--no-publish"])
                { RedirectStandardOutput = true, RedirectStandardError = true };
            using var process = Process.Start(start)!;
            var stderr = await process.StandardError.ReadToEndAsync();
            await process.WaitForExitAsync();
            Assert.True(process.ExitCode == 0, stderr);
            Assert.True(File.Exists(Path.Combine(output, "host.json")));
            foreach (var f in Functions)
                JsonDocument.Parse(File.ReadAllText(Path.Combine(output, f, "function.json"))).Dispose();
        }
        finally
        {
            if (Directory.Exists(output))
                Directory.Delete(output, recursive: true);
        }
    }
}
