using System.Numerics;
using System.Text.Json.Nodes;
using Azure.Data.Tables;
using ConvNeXt.Batch.Service.Contracts;
using ConvNeXt.Batch.Scoring.Inference;
using ConvNeXt.Batch.Scoring.Labels;
using ConvNeXt.Batch.Scoring.Preprocessing;
using ConvNeXt.Batch.Service.Queries;
using ConvNeXt.Batch.Service.Services;
using ConvNeXt.Batch.Service.Storage;
using Microsoft.Extensions.DependencyInjection;

namespace ConvNeXt.Batch.Functions.Tests;

/// <summary>
/// Two real runs over the 1,000 samples (SqueezeNet with its own Caffe preprocessing as A, the same network fed images
/// cropped without a margin as B, so both discordant counts are non-zero), compared through the API and the page, against
/// counts and an exact p-value computed here from the rows with integer arithmetic.
/// </summary>
[Collection(FunctionsCollection.Name)]
public class RunComparisonTests(FunctionsFixture fixture)
{
    private const string Samples = """ "container":"validation", "prefix":"samples1000/", "labels":"names", "chunkSize":250 """;

    [Fact]
    public async Task Two_runs_on_the_1000_samples_compare_to_an_independent_count_and_exact_p_value()
    {
        var container = fixture.Blobs.GetBlobContainerClient("validation");
        await Parallel.ForEachAsync(Directory.GetFiles(Repository.ImagenetSamples, "*.JPEG"), async (path, ct) =>
            await container.GetBlobClient("samples1000/" + Path.GetFileName(path)).UploadAsync(path, overwrite: true, ct));

        var serviceA = fixture.Services.GetRequiredService<ValidationRunService>();
        var a = await serviceA.RunLocallyAsync(Request("compare-a"));
        // B: the same network with the image resized to 224 before the centre crop (no margin) instead of 256.
        await using var other = await FunctionsFixture.StartHandlerAsync(fixture.ConnectionString, services =>
            services.AddSingleton(_ => new ScoringEngine(
                ImageClassifier.Load(Repository.SqueezeNet, preprocessing: PreprocessingSettings.Caffe(resize: 224, crop: 224), labels: ClassLabels.Load(Repository.LabelsFile)),
                new ScoringOptions { BatchSize = 8, DecodeWorkers = 2 })));
        var b = await other.Services.GetRequiredService<ValidationRunService>().RunLocallyAsync(Request("compare-b"));
        Assert.Equal((RunStatus.Completed, RunStatus.Completed, 1000, 1000), (a.Run.Status, b.Run.Status, a.Run.ImageCount, b.Run.ImageCount));

        // Independently: every row of both runs by blob name, the discordant counts, and p = 2·Σ_{i ≤ min} C(n, i) / 2^n exactly.
        var rowsA = await RowsAsync("compare-a");
        var rowsB = await RowsAsync("compare-b");
        Assert.Equal(rowsA.Keys.Order(), rowsB.Keys.Order());
        var aOnly = rowsA.Count(kv => kv.Value && !rowsB[kv.Key]);
        var bOnly = rowsA.Count(kv => !kv.Value && rowsB[kv.Key]);
        Assert.True(aOnly > 0 && bOnly > 0, $"{aOnly} / {bOnly}");
        var n = aOnly + bOnly;
        BigInteger tail = 0, choose = 1;
        for (var i = 0; i <= Math.Min(aOnly, bOnly); i++)
        {
            tail += choose;
            choose = choose * (n - i) / (i + 1);
        }
        var expectedP = Math.Min(1, Math.Exp(BigInteger.Log(2 * tail) - n * Math.Log(2)));

        var (status, body) = await GetAsync("/api/validation-runs/compare?a=compare-a&b=compare-b");
        Assert.True(status == 200, body.ToJsonString());
        Assert.Equal((aOnly, bOnly), (body["a_only"]!.GetValue<long>(), body["b_only"]!.GetValue<long>()));
        Assert.Equal(expectedP, body["p_value"]!.GetValue<double>(), expectedP * 1e-9);
        Assert.Equal(("compare-a", "squeezenet1.1-fp16", 1000L), (body["a"]!["run_id"]!.GetValue<string>(), body["a"]!["model"]!.GetValue<string>(), body["a"]!["count"]!.GetValue<long>()));
        Assert.Equal(a.Run.Top1!.Value, body["a"]!["top1"]!.GetValue<double>(), 12);
        Assert.Equal(b.Run.Top1!.Value, body["b"]!["top1"]!.GetValue<double>(), 12);
        Assert.Equal(b.Run.Top5!.Value, body["b"]!["top5"]!.GetValue<double>(), 12);
        Assert.Equal((bOnly - aOnly) / 1000.0, body["delta_top1"]!.GetValue<double>(), 12);
        var ci = body["delta_top1_ci"]!.AsArray().Select(x => x!.GetValue<double>()).ToArray();
        Assert.True(ci[0] < body["delta_top1"]!.GetValue<double>() && body["delta_top1"]!.GetValue<double>() < ci[1], string.Join(",", ci));
        var verdict = body["verdict"]!.GetValue<string>();
        Assert.StartsWith(expectedP >= 0.05 ? "no significant difference" : bOnly > aOnly ? "B better" : "B worse", verdict);
        Assert.Contains(" at α = 0.05 (exact McNemar p = ", verdict);
        // Per-class deltas sum to the overall one, largest first.
        var perClass = body["per_class"]!.AsArray();
        Assert.Equal(bOnly - aOnly, perClass.Sum(c => c!["b_correct"]!.GetValue<long>() - c!["a_correct"]!.GetValue<long>()));
        var deltas = perClass.Select(c => Math.Abs(c!["delta_top1"]!.GetValue<double>())).ToList();
        Assert.Equal(deltas.OrderDescending(), deltas);
        var strip = body["disagreements"]!.AsArray();
        Assert.Equal(Math.Min(RunComparisons.MaxDisagreements, n), strip.Count);
        Assert.All(strip, d => Assert.Equal(d!["right"]!.GetValue<string>() == "A", rowsA[d["blob"]!.GetValue<string>()]));

        // The page says the same, with a thumbnail per disagreement.
        using var page = await fixture.Client.GetAsync($"/api/validation-runs/compare/report?a=compare-a&b=compare-b&code={FunctionsFixture.FunctionKey}");
        var html = await page.Content.ReadAsStringAsync();
        Assert.True(page.IsSuccessStatusCode, html);
        Assert.Contains($"id=\"a-only\" data-value=\"{aOnly}\"", html);
        Assert.Contains($"id=\"b-only\" data-value=\"{bOnly}\"", html);
        Assert.Contains(System.Net.WebUtility.HtmlEncode(verdict), html);
        Assert.Equal(strip.Count, CountOf(html, "<img class=\"thumb\" src=\"/api/thumbnails/validation/samples1000/"));

        // Promotion's question: is B not worse than A, and A not worse than B?
        var comparisons = new RunComparisons(fixture.Services.GetRequiredService<StorageAccount>());
        Assert.Equal(!(expectedP < 0.05 && aOnly > bOnly), await comparisons.IsNotWorseAsync("compare-a", "compare-b"));
        Assert.Equal(!(expectedP < 0.05 && bOnly > aOnly), await comparisons.IsNotWorseAsync("compare-b", "compare-a"));

        // Refusals: another dataset (400, naming both digests), a run not completed (400), a run that does not exist (404).
        var subset = await serviceA.RunLocallyAsync(new ValidationRunRequest { Container = "validation", Prefix = "samples1000/n014", Labels = "names", RunId = "compare-subset" });
        Assert.Equal(RunStatus.Completed, subset.Run.Status);
        (status, body) = await GetAsync("/api/validation-runs/compare?a=compare-a&b=compare-subset");
        Assert.Equal(400, status);
        Assert.Contains("different datasets", body["error"]!.GetValue<string>());
        await serviceA.CreateRunAsync(Request("compare-running"), "test");
        (status, body) = await GetAsync("/api/validation-runs/compare?a=compare-a&b=compare-running");
        Assert.Equal((400, "run 'compare-running' is Running; a comparison needs two completed runs"), (status, body["error"]!.GetValue<string>()));
        (status, body) = await GetAsync("/api/validation-runs/compare?a=compare-a&b=no-such-run");
        Assert.Equal((404, "no validation run 'no-such-run'"), (status, body["error"]!.GetValue<string>()));
        (status, _) = await GetAsync("/api/validation-runs/compare?a=compare-a");
        Assert.Equal(400, status);
        using var refusedPage = await fixture.Client.GetAsync($"/api/validation-runs/compare/report?a=compare-a&b=compare-subset&code={FunctionsFixture.FunctionKey}");
        Assert.Equal(400, (int)refusedPage.StatusCode);
    }

    private static ValidationRunRequest Request(string runId) =>
        System.Text.Json.JsonSerializer.Deserialize<ValidationRunRequest>($$"""{ {{Samples}}, "runId":"{{runId}}" }""", ContractJson.Options)!;

    private async Task<Dictionary<string, bool>> RowsAsync(string runId)
    {
        var rows = new Dictionary<string, bool>();
        var table = new TableClient(fixture.ConnectionString, TableNames.ValidationPredictions);
        await foreach (var row in table.QueryAsync<TableEntity>(TableClient.CreateQueryFilter($"PartitionKey eq {runId}")))
            rows[row.GetString("BlobName")] = row.GetString("Status") == RowStatus.Scored && row.GetBoolean("Correct1") == true;
        return rows;
    }

    private async Task<(int Status, JsonNode Body)> GetAsync(string path)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, path);
        request.Headers.Add("x-functions-key", FunctionsFixture.FunctionKey);
        using var response = await fixture.Client.SendAsync(request);
        return ((int)response.StatusCode, JsonNode.Parse(await response.Content.ReadAsStringAsync())!);
    }

    private static int CountOf(string text, string part)
    {
        var count = 0;
        for (var i = text.IndexOf(part, StringComparison.Ordinal); i >= 0; i = text.IndexOf(part, i + part.Length, StringComparison.Ordinal))
            count++;
        return count;
    }
}
