using System.Globalization;
using System.Net;
using System.Text.Json.Nodes;
using Azure.Data.Tables;
using ConvNeXt.Batch.Functions.Handler;
using ConvNeXt.Batch.Service.Contracts;
using ConvNeXt.Batch.Service.Queries;
using ConvNeXt.Batch.Service.Reports;
using ConvNeXt.Batch.Service.Services;
using ConvNeXt.Batch.Service.Storage;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Xunit.Abstractions;

namespace ConvNeXt.Batch.Functions.Tests;

/// <summary>
/// The HTML reports served by the API, loaded in headless Chromium from a handler listening on a real port,
/// against Azurite data made by a real validation run and real scoring (SqueezeNet): the DOM shows the run's
/// numbers, every chart is there, thumbnails load through the key-checked route, nothing else is requested,
/// and the console stays clean. Screenshots go to TestResults/screenshots.
/// </summary>
[Collection(FunctionsCollection.Name)]
public class ReportPageTests(FunctionsFixture fixture, ITestOutputHelper output) : IAsyncLifetime
{
    private const string Prefix = "reports/";
    private static readonly SemaphoreSlim Gate = new(1, 1);
    private static Seeded? _seeded;
    private static readonly string LinkSigningKey = Convert.ToBase64String(Enumerable.Range(1, 32).Select(i => (byte)i).ToArray());

    /// <summary>The data every test here reads, made once: a real run, synthetic history rows, scored predictions.</summary>
    private sealed record Seeded(WebApplication App, string BaseUrl, ValidationRunSummary Run, string FlaggedSqueezeNet, string FlaggedConvNeXt, int PredictionCount);

    public static string ScreenshotPath(string name) =>
        Path.Combine(Environment.GetEnvironmentVariable("REPORT_SCREENSHOTS") ?? Path.Combine(Repository.Root, "TestResults", "screenshots"), name + ".png");

    public async Task InitializeAsync()
    {
        await Gate.WaitAsync();
        try
        {
            _seeded ??= await SeedAsync();
        }
        finally
        {
            Gate.Release();
        }
    }

    // The Kestrel handler lives as long as the Azurite of the assembly (process exit ends both).
    public Task DisposeAsync() => Task.CompletedTask;

    private async Task<Seeded> SeedAsync()
    {
        var app = HandlerApplication.Build([], b =>
        {
            b.WebHost.UseUrls("http://127.0.0.1:0");
            b.Configuration.AddInMemoryCollection(FunctionsFixture.Settings(fixture.ConnectionString));
            // A known key, so a test can sign an expired token with it.
            b.Configuration.AddInMemoryCollection(new Dictionary<string, string?> { ["Reports:LinkSigningKey"] = LinkSigningKey });
            b.Logging.SetMinimumLevel(LogLevel.Warning);
        });
        await app.StartAsync();
        var baseUrl = app.Urls.First().TrimEnd('/');

        // A labelled dataset of val100 plus two images that cannot be scored.
        var validation = fixture.Blobs.GetBlobContainerClient(ContainerNames.Validation);
        await Parallel.ForEachAsync(Directory.GetFiles(Repository.ImagenetVal100, "*.JPEG"), async (path, ct) =>
            await validation.GetBlobClient(Prefix + Path.GetFileName(path)).UploadAsync(path, overwrite: true, ct));
        await validation.GetBlobClient(Prefix + "broken_empty.JPEG").UploadAsync(BinaryData.FromBytes([]), overwrite: true);
        await validation.GetBlobClient(Prefix + "broken_text.JPEG").UploadAsync(BinaryData.FromString("not an image at all"), overwrite: true);
        var labels = await File.ReadAllTextAsync(Repository.Data("imagenet-labels", "val.txt")) + "\nbroken_empty.JPEG 1\nbroken_text.JPEG 2\n";
        await validation.GetBlobClient("labels/reports.txt").UploadAsync(BinaryData.FromString(labels), overwrite: true);
        var service = app.Services.GetRequiredService<ValidationRunService>();
        var report = await service.RunLocallyAsync(new ValidationRunRequest { Container = ContainerNames.Validation, Prefix = Prefix, Labels = "labels/reports.txt", ChunkSize = 40 });
        var run = report.Run;

        // History around it: a later run of the same model that dropped beyond its interval (no published figure:
        // compared with the previous run), and a model with a published accuracy, once consistent, once below it.
        var runs = new TableClient(fixture.ConnectionString, TableNames.ValidationRuns);
        ValidationRunEntity Synthetic(string id, string model, string sha, DateTimeOffset at, int n, double top1, double top5, double? ref1, double? ref5) => new()
        {
            RowKey = id, Status = RunStatus.Completed, Trigger = "timer", ModelId = model, ModelSha256 = sha, DatasetContainer = run.DatasetContainer,
            DatasetPrefix = run.DatasetPrefix, LabelSource = run.LabelSource, ExpectedImageCount = n, ChunkSize = 100, ChunkCount = 1,
            CreatedAt = at, FinishedAt = at.AddMinutes(5), ImageCount = n, ScoredCount = n, ErrorCount = 0, Top1 = top1, Top5 = top5,
            MeanConfidence = 0.6, ReferenceTop1 = ref1, ReferenceTop5 = ref5, ReferenceSource = ref1 is null ? null : "MindCV",
        };
        var convnextSha = string.Concat(Enumerable.Repeat("ab", 32));
        await runs.UpsertEntityAsync(Synthetic("reports-squeezenet-later", run.ModelId!, run.ModelSha256!, run.CreatedAt.AddDays(7), 100, 0.40, 0.60, null, null));
        await runs.UpsertEntityAsync(Synthetic("reports-convnext-1", "convnext_tiny", convnextSha, run.CreatedAt.AddDays(-7), 1000, 0.815, 0.956, 81.91, 95.79));
        await runs.UpsertEntityAsync(Synthetic("reports-convnext-2", "convnext_tiny", convnextSha, run.CreatedAt.AddDays(1), 1000, 0.700, 0.900, 81.91, 95.79));

        // Predictions to browse: six photos and one broken file scored from the images container.
        var images = fixture.Blobs.GetBlobContainerClient(ContainerNames.Images);
        var samples = Directory.GetFiles(Repository.ImagenetSamples, "*.JPEG").Order(StringComparer.Ordinal).Take(6).ToList();
        foreach (var path in samples)
            await images.GetBlobClient(Prefix + Path.GetFileName(path)).UploadAsync(path, overwrite: true);
        await images.GetBlobClient(Prefix + "zz_broken.jpg").UploadAsync(BinaryData.FromBytes([0xFF, 0xD8, 0xFF, 1, 2, 3]), overwrite: true);
        await app.Services.GetRequiredService<BlobScoringService>().ScoreContainerAsync(ContainerNames.Images, new ContainerScoringOptions { Prefix = Prefix });
        return new Seeded(app, baseUrl, (await app.Services.GetRequiredService<ValidationQueries>().GetRunSummaryAsync(run.RunId))!,
            "reports-squeezenet-later", "reports-convnext-2", samples.Count + 1);
    }

    private string Url(string pathAndQuery) =>
        _seeded!.BaseUrl + pathAndQuery + (pathAndQuery.Contains('?') ? "&" : "?") + "code=" + FunctionsFixture.FunctionKey;

    private async Task<BrowserPage> LoadAsync(string url, string probe, string screenshot)
    {
        await using var browser = await HeadlessChromium.StartAsync();
        var page = await browser.LoadAsync(url, probe, ScreenshotPath(screenshot), previewPath: ScreenshotPath(screenshot + "-preview"));
        output.WriteLine($"screenshot: {page.ScreenshotPath}");
        Assert.True(page.ConsoleErrors.Count == 0, "console errors:\n" + string.Join('\n', page.ConsoleErrors));
        Assert.All(page.RequestedUrls, u => Assert.True(u.StartsWith(_seeded!.BaseUrl + "/", StringComparison.Ordinal) || u.StartsWith("data:", StringComparison.Ordinal),
            $"the page requested {u}"));
        return page;
    }

    private const string ChartProbe =
        "charts: [...document.querySelectorAll('figure.chart')].map(f => ({ id: f.id, shapes: f.querySelectorAll('svg path, svg polygon, svg polyline, svg rect, svg line').length, text: (f.querySelector('svg') || {}).textContent || '' }))";

    [BrowserFact]
    public async Task Run_report_shows_the_runs_metrics_intervals_calibration_confusions_and_errors()
    {
        var run = _seeded!.Run;
        var page = await LoadAsync(Url($"/api/validation-runs/{run.RunId}/report"), """
            ({
              value: Object.fromEntries(['top1', 'top5', 'ece', 'mean-confidence', 'scored-count', 'error-count'].map(id => [id, document.getElementById(id).dataset.value])),
              text: Object.fromEntries(['top1', 'top5', 'ece'].map(id => [id, document.getElementById(id).textContent])),
              interval: [document.getElementById('top1-interval').dataset.lower, document.getElementById('top1-interval').dataset.upper],
              pairs: document.querySelectorAll('#confused tr.pair').length,
              thumbs: [...document.querySelectorAll('#confused img.thumb')].map(i => ({ src: i.getAttribute('src'), width: i.naturalWidth })),
              errors: Object.fromEntries([...document.querySelectorAll('#errors td[data-reason]')].map(td => [td.dataset.reason, +td.textContent])),
              classes: document.querySelectorAll('#per-class tr').length - 1,
            """ + ChartProbe + "})", "validation-run-report");
        var probe = page.Probe;

        Assert.Equal(RunStatus.Completed, run.Status);
        Assert.Equal((102, 100, 2), (run.ImageCount, run.ScoredCount, run.ErrorCount));
        Assert.NotNull(run.Ece);
        Assert.InRange(run.Ece!.Value, 0.0001, 0.5);
        double Value(string id) => double.Parse(probe["value"]![id]!.GetValue<string>(), CultureInfo.InvariantCulture);
        Assert.Equal(run.Top1!.Value, Value("top1"));
        Assert.Equal(run.Top5!.Value, Value("top5"));
        Assert.Equal(run.Ece.Value, Value("ece"), 12);
        Assert.Equal(run.MeanConfidence!.Value, Value("mean-confidence"));
        Assert.Equal(100, Value("scored-count"));
        Assert.Equal(2, Value("error-count"));
        Assert.Equal(HtmlReport.Percent(run.Top1.Value), probe["text"]!["top1"]!.GetValue<string>());
        Assert.Equal(HtmlReport.Percent(run.Ece.Value), probe["text"]!["ece"]!.GetValue<string>());
        var interval = Scoring.Evaluation.ProportionInterval.Wilson((long)Math.Round(run.Top1.Value * 100), 100);
        Assert.Equal(interval.Lower, double.Parse(probe["interval"]![0]!.GetValue<string>(), CultureInfo.InvariantCulture));
        Assert.Equal(interval.Upper, double.Parse(probe["interval"]![1]!.GetValue<string>(), CultureInfo.InvariantCulture));

        var charts = probe["charts"]!.AsArray();
        // val100 has about one image per class: no worst-classes chart (ValidationRunPage.PerClassChartIsMeaningful), a note instead.
        Assert.Equal(["chart-confidence", "chart-reliability", "chart-errors"], charts.Select(c => c!["id"]!.GetValue<string>()));
        Assert.All(charts, c => Assert.True(c!["shapes"]!.GetValue<int>() >= 5, $"{c["id"]} draws almost nothing"));
        Assert.Contains("ECE " + (run.Ece.Value * 100).ToString("0.00", CultureInfo.InvariantCulture) + " %", charts[1]!["text"]!.GetValue<string>());
        Assert.Contains("top-1 right", charts[0]!["text"]!.GetValue<string>());

        var report = (await _seeded.App.Services.GetRequiredService<ValidationQueries>().GetRunAsync(run.RunId))!;
        Assert.Equal(report.PerClass.Count, probe["classes"]!.GetValue<int>());
        Assert.Equal(Math.Min(8, report.MostConfused.Count), probe["pairs"]!.GetValue<int>());
        var thumbs = probe["thumbs"]!.AsArray();
        // Every confused pair shows its first images (up to ReportOptions.ImagesPerPair = 3), found by one scan of the run's rows.
        Assert.Equal(report.MostConfused.Take(8).Sum(p => Math.Min(3, p.Count)), thumbs.Count);
        Assert.All(thumbs, t =>
        {
            Assert.StartsWith("/api/thumbnails/validation/reports/", t!["src"]!.GetValue<string>());
            Assert.InRange(t["width"]!.GetValue<int>(), 1, 112); // decoded: the authorized route served a real JPEG
        });
        var errors = probe["errors"]!.AsObject();
        Assert.Equal(2, errors.Sum(e => e.Value!.GetValue<int>()));
        Assert.Equal(1, errors["Empty"]!.GetValue<int>());
    }

    [BrowserFact]
    public async Task History_shows_every_run_per_model_with_published_lines_and_flags_drops_beyond_the_interval()
    {
        var page = await LoadAsync(Url("/api/reports/history?container=validation&prefix=reports/"), """
            ({
              runs: [...document.querySelectorAll('tr.run')].map(tr => ({ id: tr.dataset.run, flagged: tr.classList.contains('flagged'), top1: tr.querySelector('.top1').dataset.value, href: tr.querySelector('a').getAttribute('href'), compare: tr.querySelector('a.compare')?.getAttribute('href') ?? null })),
              sections: document.querySelectorAll('section.dataset').length,
            """ + ChartProbe + "})", "run-history");
        var probe = page.Probe;
        var runs = probe["runs"]!.AsArray().ToDictionary(r => r!["id"]!.GetValue<string>());
        Assert.Equal(1, probe["sections"]!.GetValue<int>());
        Assert.Equal(4, runs.Count);
        Assert.Equal([_seeded!.FlaggedConvNeXt, _seeded.FlaggedSqueezeNet], runs.Values.Where(r => r!["flagged"]!.GetValue<bool>()).Select(r => r!["id"]!.GetValue<string>()).Order());
        Assert.Equal(_seeded.Run.Top1!.Value, double.Parse(runs[_seeded.Run.RunId]!["top1"]!.GetValue<string>(), CultureInfo.InvariantCulture));
        Assert.StartsWith($"/api/pages/validation-runs/{_seeded.Run.RunId}/report?t=", runs[_seeded.Run.RunId]!["href"]!.GetValue<string>());
        // Each run links to its paired comparison with the dataset's run before it, whatever the model; the first has none.
        string? Compare(string id) => runs[id]!["compare"]?.GetValue<string>();
        Assert.Null(Compare("reports-convnext-1"));
        Assert.StartsWith($"/api/pages/validation-runs/compare/report?a=reports-convnext-1&b={_seeded.Run.RunId}&t=", Compare(_seeded.Run.RunId));
        Assert.StartsWith($"/api/pages/validation-runs/compare/report?a={_seeded.Run.RunId}&b=reports-convnext-2&t=", Compare("reports-convnext-2"));
        Assert.StartsWith("/api/pages/validation-runs/compare/report?a=reports-convnext-2&b=reports-squeezenet-later&t=", Compare("reports-squeezenet-later"));

        var charts = probe["charts"]!.AsArray();
        Assert.Equal(["chart-history-0-top-1", "chart-history-0-top-5"], charts.Select(c => c!["id"]!.GetValue<string>()));
        var top1Text = charts[0]!["text"]!.GetValue<string>();
        Assert.Contains("published 81.91 %", top1Text);      // the published line of the model that has one
        Assert.Contains("convnext_tiny (abababababab)", top1Text); // one series per model id + sha256
        Assert.Contains($"{_seeded.Run.ModelId} ({_seeded.Run.ModelSha256![..12]})", top1Text);
        Assert.Contains("dropped beyond its interval", top1Text);
        Assert.Contains("published 95.79 %", charts[1]!["text"]!.GetValue<string>());
    }

    [BrowserFact]
    public async Task Predictions_browser_pages_through_rows_with_thumbnails_and_filters()
    {
        const string probe = """
            ({
              rows: [...document.querySelectorAll('tr.prediction')].map(tr => ({ blob: tr.dataset.blob, status: tr.dataset.status, top1: tr.dataset.top1 || null,
                     top5: tr.querySelectorAll('ol.top5 li').length, thumb: (tr.querySelector('img.thumb') || { naturalWidth: -1 }).naturalWidth })),
              next: (document.getElementById('next-page') || { getAttribute: () => null }).getAttribute('href'),
              form: !!document.querySelector('form#filters select[name=status]'),
            })
            """;
        var all = await LoadAsync(Url("/api/predictions/report?container=images&prefix=reports/"), probe, "predictions-browser");
        var rows = all.Probe["rows"]!.AsArray();
        Assert.Equal(_seeded!.PredictionCount, rows.Count);
        Assert.True(all.Probe["form"]!.GetValue<bool>());
        Assert.Null(all.Probe["next"]);
        foreach (var row in rows)
        {
            if (row!["status"]!.GetValue<string>() == RowStatus.Scored)
            {
                Assert.Equal(5, row["top5"]!.GetValue<int>());
                Assert.InRange(row["thumb"]!.GetValue<int>(), 1, 112);
            }
            else
                Assert.Equal("reports/zz_broken.jpg", row["blob"]!.GetValue<string>());
        }

        // Paged: three rows a page, following the page's own "next" links, gives every row once.
        var seen = new List<string>();
        string? next = "/api/predictions/report?container=images&prefix=reports/&top=3&code=" + FunctionsFixture.FunctionKey;
        while (next is not null)
        {
            await using var browser = await HeadlessChromium.StartAsync();
            var page = await browser.LoadAsync(_seeded.BaseUrl + next, probe, ScreenshotPath("predictions-page"));
            Assert.Empty(page.ConsoleErrors);
            var items = page.Probe["rows"]!.AsArray();
            Assert.InRange(items.Count, 1, 3);
            seen.AddRange(items.Select(i => i!["blob"]!.GetValue<string>()));
            next = page.Probe["next"]?.GetValue<string>();
        }
        Assert.Equal(rows.Select(r => r!["blob"]!.GetValue<string>()), seen);

        var failed = await LoadAsync(Url("/api/predictions/report?container=images&prefix=reports/&status=Failed"), probe, "predictions-failed");
        Assert.Equal(["reports/zz_broken.jpg"], failed.Probe["rows"]!.AsArray().Select(r => r!["blob"]!.GetValue<string>()));

        var unsure = await LoadAsync(Url("/api/predictions/report?container=images&prefix=reports/&below=0.6"), probe, "predictions-unsure");
        var expected = rows.Where(r => r!["top1"] is not null && double.Parse(r["top1"]!.GetValue<string>(), CultureInfo.InvariantCulture) < 0.6).Select(r => r!["blob"]!.GetValue<string>()).ToList();
        Assert.Equal(expected, unsure.Probe["rows"]!.AsArray().Select(r => r!["blob"]!.GetValue<string>()));

        var wnid = (await _seeded.App.Services.GetRequiredService<PredictionQueries>().ListAsync(new PredictionQuery { Container = "images", Prefix = Prefix, Status = RowStatus.Scored })).Items[0].Top[0].Wnid!;
        var byClass = await LoadAsync(Url($"/api/predictions/report?container=images&prefix=reports/&class={wnid}"), probe, "predictions-class");
        Assert.NotEmpty(byClass.Probe["rows"]!.AsArray());
        var listed = await _seeded.App.Services.GetRequiredService<PredictionQueries>().ListAsync(new PredictionQuery { Container = "images", Prefix = Prefix, Wnid = wnid });
        Assert.Equal(listed.Items.Select(i => i.Blob), byClass.Probe["rows"]!.AsArray().Select(r => r!["blob"]!.GetValue<string>()));
    }

    [Fact]
    public async Task Run_ece_equals_the_pooled_formula_over_its_image_rows_and_is_in_the_run_json()
    {
        var run = _seeded!.Run;
        var rows = (await _seeded.App.Services.GetRequiredService<ValidationQueries>().ListPredictionsAsync(run.RunId, 1000)).Items
            .Where(r => r.Status == RowStatus.Scored).ToList();
        Assert.Equal(100, rows.Count);
        // Textbook ECE over the pooled images (15 equal-width bins), from the per-image rows the chunks wrote.
        var pooled = rows.GroupBy(r => Math.Min(14, (int)Math.Floor(r.Top[0].Probability * 15)))
            .Sum(b => (double)b.Count() / rows.Count * Math.Abs(b.Average(r => r.Correct1 ? 1.0 : 0.0) - b.Average(r => r.Top[0].Probability)));
        Assert.Equal(pooled, run.Ece!.Value, 6);

        using var http = new HttpClient { BaseAddress = new Uri(_seeded.BaseUrl) };
        var json = JsonNode.Parse(await http.GetStringAsync($"/api/validation-runs/{run.RunId}?code={FunctionsFixture.FunctionKey}"))!;
        Assert.Equal(run.Ece.Value, json["run"]!["ece"]!.GetValue<double>());
        var bins = json["calibration"]!.AsArray();
        Assert.Equal(15, bins.Count);
        Assert.Equal(100, bins.Sum(b => b!["images"]!.GetValue<long>()));
        Assert.Equal((long)Math.Round(run.Top1!.Value * 100), bins.Sum(b => b!["correct"]!.GetValue<long>()));
    }

    [Fact]
    public async Task Pages_and_thumbnails_need_the_key_and_thumbnails_read_only_the_report_containers()
    {
        using var http = new HttpClient { BaseAddress = new Uri(_seeded!.BaseUrl) };
        var blob = "reports/" + Path.GetFileName(Directory.GetFiles(Repository.ImagenetVal100, "*.JPEG").Order(StringComparer.Ordinal).First());
        foreach (var path in new[] { $"/api/validation-runs/{_seeded.Run.RunId}/report", "/api/reports/history", "/api/predictions/report?container=images", "/api/thumbnails/validation/" + blob })
            Assert.Equal(HttpStatusCode.Unauthorized, (await http.GetAsync(path)).StatusCode);

        using var thumb = await http.GetAsync($"/api/thumbnails/validation/{blob}?code={FunctionsFixture.FunctionKey}");
        Assert.Equal(HttpStatusCode.OK, thumb.StatusCode);
        Assert.Equal("image/jpeg", thumb.Content.Headers.ContentType!.MediaType);
        var jpeg = await thumb.Content.ReadAsByteArrayAsync();
        Assert.Equal([0xFF, 0xD8], jpeg[..2]);
        using (var image = NetVips.Image.NewFromBuffer(jpeg))
            Assert.Equal(112, Math.Max(image.Width, image.Height));

        await fixture.UploadAsync(ContainerNames.Models, "secret.JPEG", await File.ReadAllBytesAsync(Path.Combine(Repository.ImagenetVal100, Path.GetFileName(blob))));
        Assert.Equal(HttpStatusCode.NotFound, (await http.GetAsync($"/api/thumbnails/models/secret.JPEG?code={FunctionsFixture.FunctionKey}")).StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, (await http.GetAsync($"/api/thumbnails/validation/reports/broken_text.JPEG?code={FunctionsFixture.FunctionKey}")).StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, (await http.GetAsync($"/api/validation-runs/no-such-run/report?code={FunctionsFixture.FunctionKey}")).StatusCode);
        Assert.Equal(HttpStatusCode.BadRequest, (await http.GetAsync($"/api/predictions/report?container=images&below=abc&code={FunctionsFixture.FunctionKey}")).StatusCode);
        Assert.Equal(HttpStatusCode.BadRequest, (await http.GetAsync($"/api/predictions/report?container=images&class=tench&code={FunctionsFixture.FunctionKey}")).StatusCode);

        using var page = await http.GetAsync($"/api/reports/history?code={FunctionsFixture.FunctionKey}");
        Assert.Equal("text/html", page.Content.Headers.ContentType!.MediaType);
        Assert.Contains("default-src 'none'", page.Headers.GetValues("Content-Security-Policy").Single());
    }

    [Fact]
    public async Task Thumbnail_links_carry_a_short_lived_token_for_their_image_not_the_key()
    {
        using var http = new HttpClient { BaseAddress = new Uri(_seeded!.BaseUrl) };
        using var page = await http.GetAsync($"/api/validation-runs/{_seeded.Run.RunId}/report?code={FunctionsFixture.FunctionKey}");
        Assert.Equal("no-referrer", page.Headers.GetValues("Referrer-Policy").Single());
        var html = await page.Content.ReadAsStringAsync();
        var sources = System.Text.RegularExpressions.Regex.Matches(html, "src=\"(/api/thumbnails/[^\"]+)\"").Select(m => System.Net.WebUtility.HtmlDecode(m.Groups[1].Value)).ToList();
        Assert.NotEmpty(sources);
        Assert.All(sources, src => Assert.DoesNotContain(FunctionsFixture.FunctionKey, src));
        Assert.All(sources, src => Assert.Contains("?t=", src));

        using var image = await http.GetAsync(sources[0]);
        Assert.Equal(HttpStatusCode.OK, image.StatusCode);
        Assert.Equal("image/jpeg", image.Content.Headers.ContentType!.MediaType);
        // The token opens its own image only, and no image without it.
        var token = sources[0][(sources[0].IndexOf("?t=", StringComparison.Ordinal) + 3)..];
        var other = sources.First(s => s[..s.IndexOf('?')] != sources[0][..sources[0].IndexOf('?')]);
        Assert.Equal(HttpStatusCode.Unauthorized, (await http.GetAsync(other[..other.IndexOf('?')] + "?t=" + token)).StatusCode);
        Assert.Equal(HttpStatusCode.Unauthorized, (await http.GetAsync(sources[0][..sources[0].IndexOf('?')])).StatusCode);
    }

    [Fact]
    public async Task Page_links_and_forms_go_to_the_mirror_with_a_page_token_not_the_key_and_it_opens_report_pages_only()
    {
        using var http = new HttpClient { BaseAddress = new Uri(_seeded!.BaseUrl) };
        var html = await http.GetStringAsync($"/api/predictions/report?container=images&prefix=reports/&top=3&code={FunctionsFixture.FunctionKey}");
        Assert.DoesNotContain("code=", html);
        Assert.DoesNotContain(FunctionsFixture.FunctionKey, html);
        Assert.DoesNotContain("name=\"code\"", html);
        Assert.Contains("name=\"t\"", html);
        Assert.Contains("action=\"/api/pages/predictions/report\"", html);

        // The bar's history link opens without the key, and so do the links of the page it opens, in turn.
        var history = Links(html).Single(l => l.StartsWith("/api/pages/reports/history?t=", StringComparison.Ordinal));
        var token = history[(history.IndexOf("?t=", StringComparison.Ordinal) + 3)..];
        using var historyPage = await http.GetAsync(history);
        Assert.Equal(HttpStatusCode.OK, historyPage.StatusCode);
        var historyHtml = await historyPage.Content.ReadAsStringAsync();
        Assert.DoesNotContain("code=", historyHtml);
        var run = Links(historyHtml).First(l => l.StartsWith($"/api/pages/validation-runs/{_seeded.Run.RunId}/report?t=", StringComparison.Ordinal));
        // A page opened by its token passes the same token on: following links never extends a leaked link's life.
        Assert.EndsWith("?t=" + token, run);
        Assert.Equal(HttpStatusCode.OK, (await http.GetAsync(run)).StatusCode);
        var next = Links(html).First(l => l.StartsWith("/api/pages/predictions/report?", StringComparison.Ordinal) && l.Contains("continuationToken=", StringComparison.Ordinal));
        Assert.Contains("&t=", next);
        Assert.Equal(HttpStatusCode.OK, (await http.GetAsync(next)).StatusCode);
        // The filter form, submitted as a browser does (the action's path, the fields as the query).
        Assert.Equal(HttpStatusCode.OK, (await http.GetAsync($"/api/pages/predictions/report?container=images&prefix=reports/&status=Scored&t={token}")).StatusCode);
        // The bar's JSON links carry nothing: a page token would not open them.
        Assert.Contains("/api/validation-runs", Links(html));

        // A page token opens no JSON route, no image, and not the keyed routes (the host checks the key there).
        Assert.Equal(HttpStatusCode.Unauthorized, (await http.GetAsync($"/api/validation-runs/{_seeded.Run.RunId}?t={token}")).StatusCode);
        Assert.Equal(HttpStatusCode.Unauthorized, (await http.GetAsync($"/api/predictions?container=images&t={token}")).StatusCode);
        Assert.Equal(HttpStatusCode.Unauthorized, (await http.GetAsync($"/api/thumbnails/images/{Prefix}zz_broken.jpg?t={token}")).StatusCode);
        Assert.Equal(HttpStatusCode.Unauthorized, (await http.GetAsync($"/api/reports/history?t={token}")).StatusCode);
        // The mirror has no JSON routes at all.
        Assert.Equal(HttpStatusCode.NotFound, (await http.GetAsync($"/api/pages/validation-runs/{_seeded.Run.RunId}?t={token}")).StatusCode);
        // The mirror takes the token and nothing else: not the key, not a forged, expired or image token, not none.
        var forged = token[..^2] + (token[^2..] == "AA" ? "BB" : "AA");
        foreach (var refused in new[] { $"code={FunctionsFixture.FunctionKey}", $"t={forged}", $"t={ExpiredPageToken()}", "t=" + ImageToken(html), "" })
        {
            using var answer = await http.GetAsync($"/api/pages/reports/history?{refused}");
            Assert.Equal(HttpStatusCode.Unauthorized, answer.StatusCode);
            Assert.Contains("link token", await answer.Content.ReadAsStringAsync());
        }
        Assert.Equal(HttpStatusCode.Unauthorized, (await http.GetAsync($"/api/validation-runs/{_seeded.Run.RunId}/report?code=wrong-key")).StatusCode);
    }

    /// <summary>The token of one of the page's thumbnail links.</summary>
    private static string ImageToken(string html)
    {
        var source = System.Text.RegularExpressions.Regex.Match(html, "src=\"(/api/thumbnails/[^\"]+)\"").Groups[1].Value;
        var decoded = System.Net.WebUtility.HtmlDecode(source);
        return Uri.UnescapeDataString(decoded[(decoded.IndexOf("t=", StringComparison.Ordinal) + 2)..]);
    }

    private static List<string> Links(string html) =>
        System.Text.RegularExpressions.Regex.Matches(html, "href=\"([^\"]+)\"").Select(m => System.Net.WebUtility.HtmlDecode(m.Groups[1].Value)).ToList();

    /// <summary>A page token the handler itself signed, with an expiry an hour ago.</summary>
    private static string ExpiredPageToken()
    {
        var past = new ReportLinkTokens(Convert.FromBase64String(LinkSigningKey), TimeSpan.FromMinutes(1), new PastClock());
        return past.Issue(ReportLinkTokens.PagesScope);
    }

    private sealed class PastClock : TimeProvider
    {
        public override DateTimeOffset GetUtcNow() => DateTimeOffset.UtcNow.AddHours(-1);
    }
}
