using System.Text.Json;

namespace ConvNeXt.Batch.Cli.Tests;

public class PredictTests
{
    // Images SqueezeNet 1.1 classifies correctly with high confidence (checked against the data README's pipeline).
    public static readonly string[] WellKnown =
        ["n01443537_goldfish.JPEG", "n01518878_ostrich.JPEG", "n01531178_goldfinch.JPEG", "n01614925_bald_eagle.JPEG", "n01622779_great_grey_owl.JPEG"];

    [Fact]
    public async Task SqueezeNet_predicts_the_right_class_as_json()
    {
        Repository.RequireShared();
        var images = WellKnown.Select(n => Path.Combine(Repository.ImagenetSamples, n)).ToArray();
        var result = await CliRunner.RunOkAsync(["predict", .. images, .. CliRunner.SqueezeNet, "--json"]);
        var lines = result.Out.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(images.Length, lines.Length);
        for (var i = 0; i < images.Length; i++)
        {
            var record = JsonDocument.Parse(lines[i]).RootElement;
            Assert.Equal(images[i], record.GetProperty("source").GetString());
            var top = record.GetProperty("top");
            Assert.Equal(5, top.GetArrayLength());
            Assert.Equal(WellKnown[i].Split('_')[0], top[0].GetProperty("wnid").GetString());
            var probabilities = top.EnumerateArray().Select(c => c.GetProperty("probability").GetDouble()).ToArray();
            Assert.Equal(probabilities.OrderDescending(), probabilities);
            Assert.True(probabilities[0] > 0.5, $"{WellKnown[i]}: {probabilities[0]}");
        }
    }

    [Fact]
    public async Task Predict_prints_a_readable_table_and_fails_on_a_broken_image()
    {
        Repository.RequireShared();
        var dir = CliRunner.TempDirectory();
        var broken = Path.Combine(dir, "broken.jpg");
        await File.WriteAllBytesAsync(broken, [0xFF, 0xD8, 0xFF, 0xE0, 1, 2, 3]);
        var tench = Path.Combine(Repository.ImagenetSamples, "n01440764_tench.JPEG");

        var result = await CliRunner.RunAsync(["predict", tench, broken, .. CliRunner.SqueezeNet]);

        Assert.Equal(1, result.ExitCode); // one image failed: the others are still printed
        Assert.Contains("tench, Tinca tinca", result.Out);
        Assert.Contains("probability", result.Out);
        Assert.Contains($"{broken}: ERROR", result.Out);
        // The table prints probabilities as the files do: six decimals, five rows for the tench.
        Assert.Equal(5, System.Text.RegularExpressions.Regex.Matches(result.Out, @"│\s+[01]\.[0-9]{6}\s+│").Count);
        Directory.Delete(dir, true);
    }

    [Fact]
    public async Task A_random_weights_model_warns_loudly()
    {
        Repository.RequireShared();
        var dir = CliRunner.TempDirectory();
        var model = Path.Combine(dir, "atto.onnx");
        await CliRunner.RunOkAsync("model", "build", "--arch", "atto", "--image-size", "64", "--output", model);
        var result = await CliRunner.RunOkAsync("predict", Path.Combine(Repository.ImagenetSamples, "n01440764_tench.JPEG"), "--model", model, "--json");
        Assert.Contains("UNTRAINED WEIGHTS", result.Error);
        // No labels in the model and none given: indices only.
        var top = JsonDocument.Parse(result.Out).RootElement.GetProperty("top");
        Assert.Equal(JsonValueKind.Number, top[0].GetProperty("index").ValueKind);
        Directory.Delete(dir, true);
    }

    [Fact]
    public async Task Predict_json_with_top_3_has_three_classes_under_top_with_six_decimals()
    {
        Repository.RequireShared();
        var result = await CliRunner.RunOkAsync(["predict", Path.Combine(Repository.ImagenetSamples, WellKnown[0]), .. CliRunner.SqueezeNet, "--json", "--top", "3"]);
        Assert.DoesNotContain("top5", result.Out);
        var top = JsonDocument.Parse(result.Out).RootElement.GetProperty("top");
        Assert.Equal(3, top.GetArrayLength());
        // Every probability printed with the same precision (six decimals), even 1 or a round number.
        var printed = System.Text.RegularExpressions.Regex.Matches(result.Out, "\"probability\":([0-9.]+)").Select(m => m.Groups[1].Value).ToList();
        Assert.Equal(3, printed.Count);
        Assert.All(printed, p => Assert.Matches("^[01]\\.[0-9]{6}$", p));
    }

    [Fact]
    public async Task The_caffe_preset_equals_the_flags_it_stands_for_and_a_flag_overrides_it()
    {
        Repository.RequireShared();
        var image = Path.Combine(Repository.ImagenetSamples, "n01440764_tench.JPEG");
        var preset = await CliRunner.RunOkAsync(["predict", image, .. CliRunner.SqueezeNet, "--json"]);
        var flags = await CliRunner.RunOkAsync(["predict", image, .. CliRunner.SqueezeNetExplicit, "--json"]);
        Assert.Equal(flags.Out, preset.Out);
        var overridden = await CliRunner.RunOkAsync(["predict", image, .. CliRunner.SqueezeNet, "--resize", "320", "--json"]);
        Assert.NotEqual(preset.Out, overridden.Out);
        var timm = await CliRunner.RunOkAsync(["predict", image, "--model", Repository.SqueezeNet, "--preprocessing", "timm", "--labels", Repository.LabelsFile, "--json"]);
        Assert.NotEqual(preset.Out, timm.Out);
    }
}
