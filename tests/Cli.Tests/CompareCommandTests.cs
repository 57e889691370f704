using System.Text.Json;
using Azure.Data.Tables;
using ConvNeXt.Batch.Service.Storage;

namespace ConvNeXt.Batch.Cli.Tests;

/// <summary>
/// <c>results compare RUN_A RUN_B</c> over rows written here: the hand-computed table of PairedComparisonTests
/// (30 both right, 3 only A, 12 only B, 5 both wrong: p = 0.03515625, B better), and its refusals.
/// </summary>
[Collection(AzuriteCollection.Name)]
public class CompareCommandTests(AzuriteFixture azurite)
{
    private string[] Storage => ["--connection-string", azurite.ConnectionString];

    [Fact]
    public async Task Compare_prints_the_hand_computed_test_and_refuses_runs_on_other_datasets_with_exit_2()
    {
        var runs = new TableClient(azurite.ConnectionString, TableNames.ValidationRuns);
        var rows = new TableClient(azurite.ConnectionString, TableNames.ValidationPredictions);
        await runs.CreateIfNotExistsAsync();
        await rows.CreateIfNotExistsAsync();
        var suffix = Guid.NewGuid().ToString("N")[..6];
        string a = "cmp-a-" + suffix, b = "cmp-b-" + suffix, other = "cmp-o-" + suffix;
        foreach (var (id, digest) in new[] { (a, "aa11"), (b, "aa11"), (other, "bb22") })
            await runs.AddEntityAsync(new ValidationRunEntity
            {
                RowKey = id, Status = RunStatus.Completed, ModelId = "model-" + id[..5], DatasetContainer = "validation", DatasetSha256 = digest + new string('0', 60),
                CreatedAt = DateTimeOffset.UtcNow,
            });
        // Image i: (A right, B right) by the table's cells, labels over four classes.
        var cells = Enumerable.Repeat((true, true), 30).Concat(Enumerable.Repeat((true, false), 3))
            .Concat(Enumerable.Repeat((false, true), 12)).Concat(Enumerable.Repeat((false, false), 5)).ToList();
        for (var i = 0; i < cells.Count; i++)
            foreach (var (run, right) in new[] { (a, cells[i].Item1), (b, cells[i].Item2) })
                await rows.UpsertEntityAsync(new ValidationPredictionEntity
                {
                    PartitionKey = run, RowKey = $"img{i:D3}.JPEG", BlobName = $"img{i:D3}.JPEG", LabelIndex = i % 4, LabelWnid = $"n0000000{i % 4}",
                    Top1Index = right ? i % 4 : 999, Correct1 = right, Correct5 = true,
                });

        var json = JsonDocument.Parse((await CliRunner.RunOkAsync(["results", "compare", a, b, "--json", .. Storage])).Out).RootElement;
        Assert.Equal((3, 12), (json.GetProperty("a_only").GetInt32(), json.GetProperty("b_only").GetInt32()));
        Assert.Equal(0.03515625, json.GetProperty("p_value").GetDouble(), 12);
        Assert.Equal(0.18, json.GetProperty("delta_top1").GetDouble(), 12);
        Assert.Equal(0.033603569227184715, json.GetProperty("delta_top1_ci")[0].GetDouble(), 9);
        Assert.Equal((a, 0.66, 1.0, 50), (json.GetProperty("a").GetProperty("run_id").GetString(), json.GetProperty("a").GetProperty("top1").GetDouble(),
            json.GetProperty("a").GetProperty("top5").GetDouble(), json.GetProperty("a").GetProperty("count").GetInt32()));
        Assert.Equal(0.84, json.GetProperty("b").GetProperty("top1").GetDouble(), 12);
        Assert.Equal("B better at α = 0.05 (exact McNemar p = 0.0352)", json.GetProperty("verdict").GetString());

        var table = await CliRunner.RunOkAsync(["results", "compare", a, b, .. Storage]);
        Assert.Contains("both right 30, only A right 3, only B right 12, both wrong 5", table.Out);
        Assert.Contains("top-1 B − A: +18.00 points, 95 % interval [+3.36, +31.95]", table.Out);
        Assert.EndsWith("B better at α = 0.05 (exact McNemar p = 0.0352)", table.Out.TrimEnd());

        var refused = await CliRunner.RunAsync(["results", "compare", a, other, .. Storage]);
        Assert.Equal(2, refused.ExitCode);
        Assert.Contains("were measured on different datasets", Assert.Single(refused.ErrorLines));
        var missing = await CliRunner.RunAsync(["results", "compare", a, "no-such-run", .. Storage]);
        Assert.Equal(2, missing.ExitCode);
        Assert.Contains("no validation run 'no-such-run'", missing.Error);
    }
}
