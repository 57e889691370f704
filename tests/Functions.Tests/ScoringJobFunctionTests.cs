using System.Text.Json;
using System.Text.Json.Nodes;
using ConvNeXt.Batch.Service.Jobs;
using Microsoft.AspNetCore.TestHost;
using Microsoft.Extensions.DependencyInjection;

namespace ConvNeXt.Batch.Functions.Tests;

/// <summary>The scoring job functions with the host's payloads: create (HTTP + Service Bus out), planner steps, chunks, status, cancel.</summary>
[Collection(FunctionsCollection.Name)]
public class ScoringJobFunctionTests(FunctionsFixture fixture)
{
    [Fact]
    public async Task Create_plan_and_chunk_functions_run_a_job_through_the_host_payloads_and_refuse_a_container_outside_the_allow_list()
    {
        await using var app = await FunctionsFixture.StartHandlerAsync(fixture.ConnectionString, services =>
            services.AddSingleton(new ScoringJobOptions { AllowedContainers = ["jobs-fn"], ChunkSize = 4, PagesPerStep = 2 }));
        using var client = app.GetTestClient();
        var container = fixture.Blobs.GetBlobContainerClient("jobs-fn");
        await container.CreateIfNotExistsAsync();
        foreach (var path in Directory.GetFiles(Repository.ImagenetSamples, "*.JPEG").Order().Skip(100).Take(10))
            await container.GetBlobClient(Path.GetFileName(path)).UploadAsync(path, overwrite: true);
        var key = new Dictionary<string, string> { ["x-functions-key"] = FunctionsFixture.FunctionKey };

        var (status, body) = await FunctionsFixture.InvokeAsync(client, "CreateScoringJob",
            HostPayloads.HttpRequest("POST", "http://localhost/api/scoring-jobs", """{"container":"other","model":"squeezenet1.1-fp16@1"}""", key));
        Assert.Equal((200, 400), (status, body["Outputs"]!["res"]!["statusCode"]!.GetValue<int>()));
        Assert.Contains("not one jobs may score", body["Outputs"]!["res"]!["body"]!.GetValue<string>());
        Assert.Null(body["Outputs"]!["plans"]);

        (status, body) = await FunctionsFixture.InvokeAsync(client, "CreateScoringJob",
            HostPayloads.HttpRequest("POST", "http://localhost/api/scoring-jobs", """{"container":"jobs-fn","model":"squeezenet1.1-fp16@1"}""", key));
        Assert.True(status == 200 && body["Outputs"]!["res"]!["statusCode"]!.GetValue<int>() == 201, body.ToJsonString());
        var jobId = JsonNode.Parse(body["Outputs"]!["res"]!["body"]!.GetValue<string>())!["jobId"]!.GetValue<string>();
        var plans = Strings(body["Outputs"]!["plans"]);
        Assert.Single(plans);

        // 10 blobs, 4 per chunk, 2 pages per step: step 0 plans chunks 0-1 and hands on, step 1 plans chunk 2 and ends.
        var chunks = new List<string>();
        var steps = 0;
        while (plans.Count > 0)
        {
            (status, body) = await FunctionsFixture.InvokeAsync(client, "PlanScoringJob", HostPayloads.ServiceBusSingle(plans[0]));
            Assert.True(status == 200, body.ToJsonString());
            chunks.AddRange(Strings(body["Outputs"]!["chunks"]));
            plans = Strings(body["Outputs"]!["plans"]);
            steps++;
        }
        Assert.Equal((2, 3), (steps, chunks.Count));

        // Chunks in reverse, the first one twice; a forged one is completed with a warning.
        foreach (var chunk in chunks.AsEnumerable().Reverse().Append(chunks[0]))
        {
            (status, body) = await FunctionsFixture.InvokeAsync(client, "ScoreJobChunk", HostPayloads.ServiceBusSingle(chunk));
            Assert.True(status == 200, body.ToJsonString());
        }
        var forged = JsonNode.Parse(chunks[0])!.AsObject();
        forged["chunkIndex"] = 7;
        (status, body) = await FunctionsFixture.InvokeAsync(client, "ScoreJobChunk", HostPayloads.ServiceBusSingle(forged.ToJsonString()));
        Assert.Equal(200, status);
        Assert.Contains(body["Logs"]!.AsArray(), l => l!.GetValue<string>().Contains("signature does not match the job"));

        using var request = new HttpRequestMessage(HttpMethod.Get, $"/api/scoring-jobs/{jobId}");
        request.Headers.Add("x-functions-key", FunctionsFixture.FunctionKey);
        using var response = await client.SendAsync(request);
        var job = JsonNode.Parse(await response.Content.ReadAsStringAsync())!;
        Assert.Equal(("Completed", 10, 10, 0, 3), (job["status"]!.GetValue<string>(), job["planned"]!.GetValue<int>(), job["done"]!.GetValue<int>(),
            job["skipped"]!.GetValue<int>(), job["chunksDone"]!.GetValue<int>()));
        using var page = await client.GetAsync($"/api/scoring-jobs/{jobId}/report?code={FunctionsFixture.FunctionKey}");
        Assert.Contains("id=\"done\" data-value=\"10\"", await page.Content.ReadAsStringAsync());
    }

    private static List<string> Strings(JsonNode? node) =>
        node is null ? [] : node.AsArray().Select(n => n!.GetValue<string>()).ToList();
}
