using System.Text.Json;

namespace ConvNeXt.Batch.Cli.Tests;

public class BenchTests(AttoModelFixture atto) : IClassFixture<AttoModelFixture>
{
    [Fact]
    public async Task Bench_json_reports_model_only_and_end_to_end_at_the_same_batch_size()
    {
        var result = await CliRunner.RunOkAsync("bench", "--model", atto.ModelPath, "--images", Repository.ImagenetSamples, "--limit", "24",
            "--batch-size", "8", "--warmup", "1", "--iterations", "3", "--json");
        var report = JsonDocument.Parse(result.Out).RootElement;
        Assert.True(report.GetProperty("model_only_img_s").GetDouble() > 0);
        Assert.True(report.GetProperty("end_to_end_img_s").GetDouble() > 0);
        Assert.True(report.GetProperty("preprocess_img_s_per_core").GetDouble() > 0);
        Assert.Equal(8, report.GetProperty("batch_size").GetInt32());
        Assert.Equal(24, report.GetProperty("end_to_end_images").GetInt32());
        var latency = report.GetProperty("batch_latency_ms");
        Assert.True(latency.GetProperty("p50").GetDouble() <= latency.GetProperty("p99").GetDouble());
        Assert.True(report.GetProperty("peak_working_set_bytes").GetInt64() > 0);

        var table = await CliRunner.RunOkAsync("bench", "--model", atto.ModelPath, "--images", Repository.ImagenetSamples, "--limit", "8",
            "--batch-size", "4", "--iterations", "2");
        Assert.Contains("model only", table.Out);
        Assert.Contains("img/s", table.Out);
    }

    [Fact]
    public async Task Validate_reports_chance_accuracy_for_random_weights_and_writes_per_class_csv()
    {
        var csv = Path.Combine(atto.Directory, "per-class.csv");
        var result = await CliRunner.RunOkAsync("validate", Repository.ImagenetVal100, "--model", atto.ModelPath,
            "--ground-truth", Repository.Data("imagenet-labels", "val.txt"), "--per-class", csv);
        Assert.Contains("top-1", result.Out);
        Assert.Contains("UNTRAINED WEIGHTS", result.Out);
        var lines = File.ReadAllLines(csv);
        Assert.Equal("index,wnid,name,images,top1_correct,top5_correct,top1,top5", lines[0]);
        Assert.Equal(100, lines.Skip(1).Sum(l => int.Parse(l.Split(',')[^5])));
    }
}
