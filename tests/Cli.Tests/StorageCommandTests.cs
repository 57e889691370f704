using System.Text.Json;
using Azure.Storage.Blobs;

namespace ConvNeXt.Batch.Cli.Tests;

[Collection(AzuriteCollection.Name)]
public class StorageCommandTests(AzuriteFixture azurite, AttoModelFixture atto) : IClassFixture<AttoModelFixture>
{
    private string[] Storage => ["--connection-string", azurite.ConnectionString];

    private async Task<BlobContainerClient> ContainerAsync(string name)
    {
        var container = new BlobServiceClient(azurite.ConnectionString).GetBlobContainerClient(name);
        await container.CreateIfNotExistsAsync();
        return container;
    }

    private static async Task UploadSampleAsync(BlobContainerClient container, string sample, string? name = null) =>
        await container.GetBlobClient(name ?? sample).UploadAsync(Path.Combine(Repository.ImagenetSamples, sample), overwrite: true);

    [Fact]
    public async Task Score_a_container_into_a_table_then_query_it_with_results()
    {
        Repository.RequireShared();
        var container = await ContainerAsync("score-src");
        foreach (var sample in PredictTests.WellKnown)
            await UploadSampleAsync(container, sample, "photos/" + sample);
        await container.GetBlobClient("photos/broken.jpg").UploadAsync(BinaryData.FromBytes([0xFF, 0xD8, 0xFF, 1, 2, 3]), overwrite: true);
        await UploadSampleAsync(container, "n01440764_tench.JPEG", "elsewhere/tench.JPEG");

        var output = Path.Combine(CliRunner.TempDirectory(), "scores.jsonl");
        var score = await CliRunner.RunOkAsync(["score", "blob://score-src/photos/", "--table", "Predictions", "--output", output, .. Storage, .. CliRunner.SqueezeNet]);
        Assert.Contains($"scored {PredictTests.WellKnown.Length + 1} images (1 error)", score.Error);
        Assert.Equal(PredictTests.WellKnown.Length + 1, File.ReadLines(output).Count());

        var json = await CliRunner.RunOkAsync(["results", "predictions", "--container", "score-src", "--prefix", "photos/", "--format", "json", .. Storage]);
        var rows = JsonDocument.Parse(json.Out).RootElement.EnumerateArray().ToList();
        Assert.Equal(PredictTests.WellKnown.Length + 1, rows.Count);
        var broken = Assert.Single(rows, r => r.GetProperty("status").GetString() == "Failed");
        Assert.Equal("photos/broken.jpg", broken.GetProperty("blob").GetString());
        foreach (var sample in PredictTests.WellKnown)
        {
            var row = Assert.Single(rows, r => r.GetProperty("blob").GetString() == "photos/" + sample);
            Assert.Equal(sample.Split('_')[0], row.GetProperty("top")[0].GetProperty("wnid").GetString());
        }

        var csv = await CliRunner.RunOkAsync(["results", "predictions", "--container", "score-src", "--format", "csv", "--top", "3", .. Storage]);
        var lines = csv.Out.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.StartsWith("container,blob,status,error,top1_index,top1_wnid,top1_name,top1_probability,top2_index", lines[0]);
        Assert.Contains("top5_probability,model,scored_at", lines[0]);
        Assert.Equal(4, lines.Length); // header + --top 3
        Assert.Equal("more rows: --all, or --top N above 3", Assert.Single(csv.ErrorLines));
        var every = await CliRunner.RunOkAsync(["results", "predictions", "--container", "score-src", "--format", "csv", "--all", .. Storage]);
        Assert.Equal(PredictTests.WellKnown.Length + 2, every.Out.Split('\n', StringSplitOptions.RemoveEmptyEntries).Length);
        Assert.Empty(every.ErrorLines);
        using (var reader = CsvHelper.CsvReader.FromText(csv.Out, new CsvHelper.CsvReaderOptions()))
        {
            reader.ReadHeader();
            while (reader.Read())
                if (reader.GetString("status") == "Scored")
                    Assert.Matches("^[01]\\.[0-9]{6}$", reader.GetString("top5_probability")); // one precision, as in the files
        }

        var table = await CliRunner.RunOkAsync(["results", "predictions", "--container", "score-src", "--errors", .. Storage]);
        Assert.Contains("photos/broken.jpg", table.Out);
        Assert.DoesNotContain("goldfish", table.Out);

        // The same scoring service as ScoreImages: a second run finds every row final for this blob
        // version and model (the broken JPEG is a permanent failure) and scores nothing again, while
        // the file still lists every blob, from the stored rows.
        var again = await CliRunner.RunOkAsync(["score", "blob://score-src/photos/", "--table", "Predictions", "--output", output, .. Storage, .. CliRunner.SqueezeNet]);
        Assert.Contains($"scored 0 images (0 errors)", again.Error);
        Assert.Contains($"; {PredictTests.WellKnown.Length + 1} unchanged since they were last scored", again.Error);
        var records = File.ReadLines(output).Select(l => JsonDocument.Parse(l).RootElement).ToList();
        Assert.Equal(PredictTests.WellKnown.Length + 1, records.Count);
        Assert.Contains("could not be decoded", Assert.Single(records, r => r.GetProperty("source").GetString() == "photos/broken.jpg").GetProperty("error").GetString());
        foreach (var sample in PredictTests.WellKnown)
            Assert.Equal(sample.Split('_')[0], Assert.Single(records, r => r.GetProperty("source").GetString() == "photos/" + sample)
                .GetProperty("top")[0].GetProperty("wnid").GetString());
    }

    [Fact]
    public async Task Score_table_writes_the_named_table_only_and_rescores_a_changed_blob()
    {
        Repository.RequireShared();
        var container = await ContainerAsync("score-named");
        foreach (var sample in PredictTests.WellKnown[..2])
            await UploadSampleAsync(container, sample);
        string[] score = ["score", "blob://score-named", "--table", "Audit2026", "--quiet", .. Storage, .. CliRunner.SqueezeNet];

        var first = await CliRunner.RunOkAsync(score);
        Assert.Contains("scored 2 images (0 errors)", first.Error);
        Assert.Contains("→ table Audit2026", first.Error);
        var tables = new Azure.Data.Tables.TableServiceClient(azurite.ConnectionString);
        var audit = tables.GetTableClient("Audit2026").Query<Azure.Data.Tables.TableEntity>(e => e.PartitionKey == "score-named").ToList();
        Assert.Equal(2, audit.Count);
        Assert.All(audit, r => Assert.Equal("Scored", r.GetString("Status")));
        await tables.CreateTableIfNotExistsAsync("Predictions");
        Assert.Empty(tables.GetTableClient("Predictions").Query<Azure.Data.Tables.TableEntity>(e => e.PartitionKey == "score-named"));

        // New content under one name: a new ETag, so that blob alone is scored again.
        await UploadSampleAsync(container, PredictTests.WellKnown[2], PredictTests.WellKnown[0]);
        var second = await CliRunner.RunOkAsync(score);
        Assert.Contains("scored 1 image (0 errors)", second.Error);
        Assert.Contains("; 1 unchanged since they were last scored", second.Error);
        var replaced = tables.GetTableClient("Audit2026").GetEntity<Azure.Data.Tables.TableEntity>("score-named", PredictTests.WellKnown[0]).Value;
        Assert.Equal(PredictTests.WellKnown[2].Split('_')[0], replaced.GetString("Top1Wnid"));
    }

    [Theory]
    [InlineData("no")]
    [InlineData("bad-name")]
    [InlineData("1abc")]
    public async Task Score_table_rejects_a_name_Azure_would_refuse(string name)
    {
        var result = await CliRunner.RunAsync(["score", CliRunner.TempDirectory(), "--table", name, .. Storage, .. CliRunner.SqueezeNet]);
        Assert.Equal(2, result.ExitCode);
        Assert.Contains($"'{name}' is not a valid table name", result.Error);
        Assert.Single(result.ErrorLines);
    }

    [Fact]
    public async Task Score_a_folder_into_a_table_partitions_rows_by_the_folder_name()
    {
        Repository.RequireShared();
        var folder = Path.Combine(CliRunner.TempDirectory(), "holiday");
        Directory.CreateDirectory(Path.Combine(folder, "day1"));
        foreach (var sample in PredictTests.WellKnown[..2])
            File.Copy(Path.Combine(Repository.ImagenetSamples, sample), Path.Combine(folder, "day1", sample));
        await File.WriteAllBytesAsync(Path.Combine(folder, "broken.jpg"), [0xFF, 0xD8, 0xFF, 1, 2, 3]);

        var score = await CliRunner.RunOkAsync(["score", folder, "--table", "Predictions", "--quiet", .. Storage, .. CliRunner.SqueezeNet]);
        Assert.Contains("scored 3 images (1 error)", score.Error);

        var rows = JsonDocument.Parse((await CliRunner.RunOkAsync(["results", "predictions", "--container", "holiday", "--format", "json", .. Storage])).Out)
            .RootElement.EnumerateArray().ToList();
        Assert.Equal(3, rows.Count);
        Assert.Equal("Failed", Assert.Single(rows, r => r.GetProperty("blob").GetString() == "broken.jpg").GetProperty("status").GetString());
        Assert.Equal(PredictTests.WellKnown[1].Split('_')[0],
            Assert.Single(rows, r => r.GetProperty("blob").GetString() == "day1/" + PredictTests.WellKnown[1]).GetProperty("top")[0].GetProperty("wnid").GetString());
    }

    [Fact]
    public async Task Watch_once_scores_new_blobs_and_skips_already_scored_ones()
    {
        Repository.RequireShared();
        var container = await ContainerAsync("watched");
        foreach (var sample in PredictTests.WellKnown[..3])
            await UploadSampleAsync(container, sample);
        string[] watch = ["watch", "--container", "watched", "--once", .. Storage, .. CliRunner.SqueezeNet];

        var first = await CliRunner.RunOkAsync(watch);
        Assert.Contains("scored 3, failed 0, skipped 0", first.Error);

        await UploadSampleAsync(container, PredictTests.WellKnown[3]);
        var second = await CliRunner.RunOkAsync(watch);
        Assert.Contains("scored 1, failed 0, skipped 3", second.Error);

        // A blob overwritten with new content has a new ETag: scored again.
        await UploadSampleAsync(container, PredictTests.WellKnown[4], PredictTests.WellKnown[0]);
        var third = await CliRunner.RunOkAsync(watch);
        Assert.Contains("scored 1, failed 0, skipped 3", third.Error);

        var rows = JsonDocument.Parse((await CliRunner.RunOkAsync(["results", "predictions", "--container", "watched", "--format", "json", .. Storage])).Out)
            .RootElement.EnumerateArray().ToList();
        Assert.Equal(4, rows.Count);
        var replaced = Assert.Single(rows, r => r.GetProperty("blob").GetString() == PredictTests.WellKnown[0]);
        Assert.Equal(PredictTests.WellKnown[4].Split('_')[0], replaced.GetProperty("top")[0].GetProperty("wnid").GetString());
    }

    [Fact]
    public async Task Validate_matches_the_validation_service_run_on_the_same_data()
    {
        Repository.RequireShared();
        var valList = Repository.Data("imagenet-labels", "val.txt");
        var local = JsonDocument.Parse((await CliRunner.RunOkAsync(
            ["validate", Repository.ImagenetVal100, "--ground-truth", valList, "--json", .. CliRunner.SqueezeNet])).Out).RootElement;
        Assert.Equal(100, local.GetProperty("count").GetInt32());
        Assert.InRange(local.GetProperty("top1").GetDouble(), 57.5, 60.5); // data README: 59 % with an independent pipeline
        Assert.InRange(local.GetProperty("top5").GetDouble(), 72.5, 75.5); // 74 %
        Assert.True(local.GetProperty("run_id").ValueKind == JsonValueKind.Null);

        var recorded = JsonDocument.Parse((await CliRunner.RunOkAsync(
            ["validate", Repository.ImagenetVal100, "--ground-truth", valList, "--json", "--chunk-size", "30", .. Storage, .. CliRunner.SqueezeNet])).Out).RootElement;
        foreach (var key in new[] { "count", "errors" })
            Assert.Equal(local.GetProperty(key).GetInt64(), recorded.GetProperty(key).GetInt64());
        foreach (var key in new[] { "top1", "top5", "mean_confidence" })
            Assert.Equal(local.GetProperty(key).GetDouble(), recorded.GetProperty(key).GetDouble(), 6);
        var runId = recorded.GetProperty("run_id").GetString()!;

        var runs = await CliRunner.RunOkAsync(["results", "runs", "--format", "json", .. Storage]);
        Assert.Contains(runId, runs.Out);
        var run = JsonDocument.Parse((await CliRunner.RunOkAsync(["results", "run", runId, "--wrong", "--format", "json", .. Storage])).Out).RootElement;
        Assert.Equal("Completed", run.GetProperty("report").GetProperty("run").GetProperty("status").GetString());
        var wrong = run.GetProperty("wrong").GetArrayLength();
        Assert.Equal(100 - (int)Math.Round(local.GetProperty("top1").GetDouble()), wrong);

        var table = await CliRunner.RunOkAsync(["results", "run", runId, .. Storage]);
        Assert.Contains("Completed", table.Out);

        // With a label table the most-confused pairs are named by WordNet id, not by index.
        var named = JsonDocument.Parse((await CliRunner.RunOkAsync(["results", "run", runId, "--labels", Repository.LabelsFile, "--format", "json", .. Storage])).Out).RootElement;
        var pairs = named.GetProperty("report").GetProperty("mostConfused").EnumerateArray().ToList();
        Assert.NotEmpty(pairs);
        Assert.All(pairs, p => Assert.StartsWith("n", p.GetProperty("trueWnid").GetString()));
    }

    [Fact]
    public async Task Demo_scores_generated_images_and_reports_a_validation_run()
    {
        var empty = CliRunner.TempDirectory();
        var result = await CliRunner.RunWithProgressAsync(["demo", "--images", empty, "--count", "6", "--model", atto.ModelPath, "--work-dir", empty, .. Storage]);
        Assert.True(result.ExitCode == 0, result.ToString());
        Assert.Contains("uploading 6 generated images", result.Out);

        // Progress (count, rate, ETA) for each phase, then the same summary line as score.
        foreach (var phase in new[] { "uploading", "scoring", "validating" })
        {
            var total = phase == "uploading" ? 12 : 6;
            Assert.Matches($@"{phase} \[#+\] {total}/{total} img  [0-9]+\.[0-9] img/s  ETA [0-9:]+", result.Error);
        }
        Assert.Contains(result.ErrorLines, l => System.Text.RegularExpressions.Regex.IsMatch(l,
            @"^scored 6 images \(0 errors\) in [0-9]+\.[0-9] s: [0-9]+\.[0-9] img/s → table Predictions$"));
        Assert.Contains(result.ErrorLines, l => l.StartsWith("validation run ", StringComparison.Ordinal) && l.Contains(": 6 images, top-1 "));

        Assert.Contains("forgets them when it stops", result.Out);
        Assert.Contains("results run ", result.Out);
        Assert.Contains("6 rows", result.Out);          // results predictions
        Assert.Contains("Completed", result.Out);         // results run
        Assert.Contains("UNTRAINED WEIGHTS", result.Error);

        // The banner's command line works here: the dll it names exists, or the name is on PATH.
        var fetch = System.Text.RegularExpressions.Regex.Match(result.Out, "or '(?<cli>.+) model fetch tiny'");
        Assert.True(fetch.Success, result.Out);
        var cli = fetch.Groups["cli"].Value;
        if (cli.StartsWith("dotnet ", StringComparison.Ordinal))
            Assert.True(File.Exists(cli["dotnet ".Length..]) && cli.EndsWith("convnext-batch.dll", StringComparison.Ordinal), cli);
        else
            Assert.Equal("convnext-batch", cli);
        Assert.Contains($"==> {cli} results predictions --container images --top 20", result.Out);

        // "Most confused" names the classes (wnid and name, from the run's own predictions), not bare indices.
        var confused = result.Out[result.Out.IndexOf("Most confused", StringComparison.Ordinal)..];
        var pairs = confused.Split('\n').Where(l => l.StartsWith("│", StringComparison.Ordinal) && !l.Contains("predicted")).ToList();
        Assert.NotEmpty(pairs);
        Assert.All(pairs, row => Assert.Matches(@"^│ n[0-9]{8} [A-Za-z][^│]*│ n[0-9]{8} [A-Za-z][^│]*│ +[0-9]+ +│$", row.TrimEnd()));

        var rows = JsonDocument.Parse((await CliRunner.RunOkAsync(["results", "predictions", "--container", "images", "--format", "json", .. Storage])).Out)
            .RootElement.EnumerateArray().ToList();
        Assert.Equal(6, rows.Count(r => r.GetProperty("blob").GetString()!.Contains("_generated_")));
        Assert.All(rows, r => Assert.Equal("Scored", r.GetProperty("status").GetString()));
    }
}
