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

    /// <summary>
    /// Random weights must score at chance. val100's most frequent class has 3 of the 100 images, so a
    /// model that always says the same class gets at most 3 % top-1; 1000-way chance is 0.1 % top-1
    /// and 0.5 % top-5. A scorer that leaked labels or mis-counted would exceed these bounds.
    /// </summary>
    [Fact]
    public async Task Validate_reports_chance_accuracy_for_random_weights_and_writes_per_class_csv()
    {
        var csv = Path.Combine(atto.Directory, "per-class.csv");
        var result = await CliRunner.RunOkAsync("validate", Repository.ImagenetVal100, "--model", atto.ModelPath,
            "--ground-truth", Repository.Data("imagenet-labels", "val.txt"), "--per-class", csv, "--json");
        var report = JsonDocument.Parse(result.Out).RootElement;
        Assert.Equal(100, report.GetProperty("count").GetInt64());
        var top1 = report.GetProperty("top1").GetDouble();
        var top5 = report.GetProperty("top5").GetDouble();
        Assert.InRange(top1, 0, 3);
        Assert.InRange(top5, top1, 10);
        Assert.False(report.GetProperty("trained").GetBoolean());
        var lines = File.ReadAllLines(csv);
        Assert.Equal("index,wnid,name,images,top1_correct,top5_correct,top1,top5", lines[0]);
        var rows = lines.Skip(1).Select(l => l.Split(',')).ToList();
        Assert.Equal(100, rows.Sum(r => int.Parse(r[^5])));
        // The headline figure is the per-class counts' sum, in percent of 100 images.
        Assert.Equal(top1, rows.Sum(r => int.Parse(r[^4])), 6);
        Assert.Equal(top5, rows.Sum(r => int.Parse(r[^3])), 6);

        var table = await CliRunner.RunOkAsync("validate", Repository.ImagenetVal100, "--model", atto.ModelPath,
            "--ground-truth", Repository.Data("imagenet-labels", "val.txt"));
        Assert.Contains("UNTRAINED WEIGHTS", table.Out);
    }

    [Fact]
    public async Task Bench_compares_two_models_on_the_same_images_and_batch_with_ratios()
    {
        var inception = Path.Combine(atto.Directory, "inext-mini.onnx");
        await CliRunner.RunOkAsync("model", "build", "--weights", Repository.Reference("golden-inceptionnext-mini", "timm.safetensors"),
            "--image-size", "64", "--output", inception);
        var result = await CliRunner.RunOkAsync("bench", "--model", atto.ModelPath, "--compare", inception, "--images", Repository.ImagenetSamples,
            "--limit", "8", "--batch-size", "4", "--warmup", "1", "--iterations", "2", "--rounds", "2", "--json");
        var report = JsonDocument.Parse(result.Out).RootElement;
        var runs = report.GetProperty("runs").EnumerateArray().ToList();
        Assert.Equal(["atto64", "inext-mini"], runs.Select(r => r.GetProperty("model").GetString()));
        Assert.All(runs, r =>
        {
            Assert.Equal(4, r.GetProperty("batch_size").GetInt32());
            Assert.Equal(8, r.GetProperty("end_to_end_images").GetInt64());
            Assert.Equal(4, r.GetProperty("model_only_batches").GetInt32()); // 2 iterations x 2 rounds
            Assert.True(r.GetProperty("model_only_cpu_ms_per_image").GetDouble() > 0);
        });
        Assert.StartsWith("inception_next_", runs[1].GetProperty("architecture").GetString());
        var ratio = Assert.Single(report.GetProperty("ratios").EnumerateArray().ToList());
        Assert.Equal("inext-mini", ratio.GetProperty("model").GetString());
        Assert.Equal("atto64", ratio.GetProperty("baseline").GetString());
        var expected = runs[1].GetProperty("model_only_img_s").GetDouble() / runs[0].GetProperty("model_only_img_s").GetDouble();
        // Both sides are rounded for printing (img/s to 2 decimals, the ratio to 3): compare within 1 %, not by
        // rounding both to 2 decimals, which fails whenever the two land on either side of a rounding boundary.
        Assert.Equal(expected, ratio.GetProperty("model_only").GetDouble(), expected * 0.01);
    }

    [Fact]
    public async Task Bench_on_a_fixed_batch_model_warns_that_the_batch_size_cannot_apply()
    {
        Repository.RequireShared();
        var result = await CliRunner.RunOkAsync(["bench", .. CliRunner.SqueezeNet, "--images", Repository.ImagenetSamples, "--limit", "2",
            "--batch-size", "16", "--warmup", "0", "--iterations", "1", "--json"]);
        var warning = Assert.Single(result.ErrorLines, l => l.Contains("fixed batch size", StringComparison.Ordinal));
        Assert.Contains("fixed batch size of 1: --batch-size 16 cannot apply", warning);
        var report = JsonDocument.Parse(result.Out).RootElement;
        Assert.Equal(1, report.GetProperty("batch_size").GetInt32());
        Assert.Equal(16, report.GetProperty("requested_batch_size").GetInt32());
    }

    [Fact]
    public async Task Bench_profile_sums_onnx_runtime_time_by_operator()
    {
        var dir = Path.Combine(atto.Directory, "profile");
        var result = await CliRunner.RunOkAsync("bench", "--model", atto.ModelPath, "--images", Repository.ImagenetSamples, "--limit", "2",
            "--batch-size", "2", "--warmup", "0", "--iterations", "1", "--profile", dir, "--json");
        var report = JsonDocument.Parse(result.Out).RootElement;
        var profile = Assert.Single(report.GetProperty("profiles").EnumerateArray().ToList());
        Assert.True(File.Exists(profile.GetProperty("profile_path").GetString()));
        var operators = profile.GetProperty("operators").EnumerateArray().ToList();
        Assert.Contains(operators, o => o.GetProperty("operator").GetString()!.Contains("Conv", StringComparison.Ordinal));
        Assert.Equal(1.0, operators.Sum(o => o.GetProperty("share").GetDouble()), 3);
    }
}
