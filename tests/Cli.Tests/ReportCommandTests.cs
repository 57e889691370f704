using System.Globalization;
using System.Text.Json;
using ConvNeXt.Batch.Service.Queries;
using ConvNeXt.Batch.Service.Reports;
using ConvNeXt.Batch.Service.Storage;

namespace ConvNeXt.Batch.Cli.Tests;

/// <summary><c>results report RUN_ID -o run.html</c>: one self-contained file that opens offline in a real browser.</summary>
[Collection(AzuriteCollection.Name)]
public class ReportCommandTests(AzuriteFixture azurite)
{
    private string[] Storage => ["--connection-string", azurite.ConnectionString];

    [BrowserFact]
    public async Task Report_file_is_self_contained_shows_the_runs_numbers_and_opens_offline()
    {
        Repository.RequireShared();
        var recorded = JsonDocument.Parse((await CliRunner.RunOkAsync(
            ["validate", Repository.ImagenetVal100, "--ground-truth", Repository.Data("imagenet-labels", "val.txt"), "--json", "--quiet",
             "--container", "report-cli", "--chunk-size", "40", .. Storage, .. CliRunner.SqueezeNet])).Out).RootElement;
        var runId = recorded.GetProperty("run_id").GetString()!;
        var account = new StorageAccount(new StorageOptions { ConnectionString = azurite.ConnectionString });
        var run = ConvNeXt.Batch.Service.Queries.ValidationRunSummary.From((await new ConvNeXt.Batch.Service.Validation.ValidationRunStore(account).ReadAsync(runId))!);
        Assert.NotNull(run.Ece);

        var file = Path.Combine(CliRunner.TempDirectory(), "run.html");
        var result = await CliRunner.RunOkAsync(["results", "report", runId, "-o", file, "--labels", Repository.LabelsFile, .. Storage]);
        Assert.Contains("wrote " + file, result.Out);
        var html = await File.ReadAllTextAsync(file);
        Assert.DoesNotContain("src=\"http", html);
        Assert.DoesNotContain("href=\"http", html);

        await using var browser = await HeadlessChromium.StartAsync();
        var page = await browser.LoadAsync(new Uri(file).AbsoluteUri, """
            ({
              top1: document.getElementById('top1').dataset.value,
              ece: document.getElementById('ece').dataset.value,
              charts: [...document.querySelectorAll('figure.chart svg')].length,
              thumbs: [...document.querySelectorAll('img.thumb')].map(i => ({ data: i.getAttribute('src').startsWith('data:image/jpeg;base64,'), width: i.naturalWidth })),
              firstPair: document.querySelector('#confused tr.pair td').textContent,
            })
            """, Path.Combine(Repository.Root, "TestResults", "screenshots", "cli-run-report.png"));
        Assert.True(page.ConsoleErrors.Count == 0, string.Join('\n', page.ConsoleErrors));
        Assert.All(page.RequestedUrls, u => Assert.True(u.StartsWith("file:", StringComparison.Ordinal) || u.StartsWith("data:", StringComparison.Ordinal), $"the file requested {u}"));
        Assert.Equal(run.Top1!.Value, double.Parse(page.Probe["top1"]!.GetValue<string>(), CultureInfo.InvariantCulture));
        Assert.Equal(run.Ece!.Value, double.Parse(page.Probe["ece"]!.GetValue<string>(), CultureInfo.InvariantCulture), 12);
        Assert.Equal(2, page.Probe["charts"]!.GetValue<int>()); // confidence, reliability (val100: one image per class, no per-class chart; no errors)
        Assert.Contains("id=\"per-class-note\">No per-class chart: the classes have a median of 1 image(s) each", html);
        var thumbs = page.Probe["thumbs"]!.AsArray();
        Assert.NotEmpty(thumbs);
        Assert.All(thumbs, t => Assert.True(t!["data"]!.GetValue<bool>() && t["width"]!.GetValue<int>() > 0));
        Assert.DoesNotMatch("^n[0-9]{8}$", page.Probe["firstPair"]!.GetValue<string>()); // named from --labels
    }

    [Fact]
    public async Task Report_of_an_unknown_run_fails_and_a_missing_output_is_a_usage_error()
    {
        var missing = await CliRunner.RunAsync(["results", "report", "no-such-run", "-o", Path.Combine(CliRunner.TempDirectory(), "x.html"), .. Storage]);
        Assert.Equal(1, missing.ExitCode);
        Assert.Contains("no validation run 'no-such-run'", missing.Error);
        var usage = await CliRunner.RunAsync(["results", "report", "some-run", .. Storage]);
        Assert.Equal(2, usage.ExitCode);
        Assert.Contains("--output", usage.Error);
    }
}
