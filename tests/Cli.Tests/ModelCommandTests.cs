using System.Text.Json;
using ConvNeXt.Batch.Scoring.Models;

namespace ConvNeXt.Batch.Cli.Tests;

public class ModelCommandTests
{
    [Theory]
    [InlineData("atto", "fp32")]
    [InlineData("femto", "fp16")]
    public async Task Build_then_inspect_reports_the_spec_parameter_count(string arch, string precision)
    {
        var dir = CliRunner.TempDirectory();
        var path = Path.Combine(dir, $"{arch}.onnx");
        var build = await CliRunner.RunOkAsync("model", "build", "--arch", arch, "--precision", precision, "--image-size", "64", "--output", path, "--json");
        Assert.Contains("UNTRAINED WEIGHTS", build.Error);
        var built = JsonDocument.Parse(build.Out).RootElement;
        var expected = ConvNeXtSpec.Find(arch).ParameterCount(1000);
        Assert.Equal(expected, built.GetProperty("parameters").GetInt64());

        var inspect = await CliRunner.RunOkAsync("model", "inspect", path, "--json");
        var info = JsonDocument.Parse(inspect.Out).RootElement;
        Assert.Equal(expected, info.GetProperty("parameters").GetInt64());
        Assert.Equal("convnext_" + arch, info.GetProperty("architecture").GetString());
        Assert.False(info.GetProperty("trained").GetBoolean());
        Assert.Equal(precision, info.GetProperty("precision").GetString());
        Assert.True(info.GetProperty("macs").GetInt64() > 0);
        Assert.True(info.GetProperty("opset").GetInt64() >= 17);
        var input = info.GetProperty("inputs")[0];
        Assert.Equal("pixel_values", input.GetProperty("name").GetString());
        Assert.Equal(64, input.GetProperty("shape")[3].GetInt64());
        Assert.Equal(64, info.GetProperty("preprocessing").GetProperty("crop_height").GetInt32());

        var table = await CliRunner.RunOkAsync("model", "inspect", path);
        Assert.Contains(expected.ToString("N0", System.Globalization.CultureInfo.InvariantCulture), table.Out);
        Assert.Contains("UNTRAINED WEIGHTS", table.Out);
        Directory.Delete(dir, true);
    }

    [Fact]
    public async Task Build_from_published_weights_file_is_trained_and_reproducible()
    {
        Repository.RequireShared();
        var dir = CliRunner.TempDirectory();
        var path = Path.Combine(dir, "mini.onnx");
        var weights = Repository.Reference("golden-mini", "timm.safetensors");
        var build = await CliRunner.RunOkAsync("model", "build", "--weights", weights, "--format", "timm", "--output", path);
        Assert.DoesNotContain("UNTRAINED", build.Error);
        var info = JsonDocument.Parse((await CliRunner.RunOkAsync("model", "inspect", path, "--json")).Out).RootElement;
        Assert.True(info.GetProperty("trained").GetBoolean());
        Assert.Equal("timm", info.GetProperty("weights_format").GetString());
        Directory.Delete(dir, true);
    }

    [Fact]
    public async Task Build_with_a_weights_file_that_is_not_weights_fails_with_one_line()
    {
        var dir = CliRunner.TempDirectory();
        var bogus = Path.Combine(dir, "bogus.safetensors");
        await File.WriteAllTextAsync(bogus, "not a safetensors file");
        var result = await CliRunner.RunAsync("model", "build", "--weights", bogus, "--output", Path.Combine(dir, "x.onnx"));
        Assert.Equal(1, result.ExitCode);
        Assert.Single(result.ErrorLines);
        Assert.False(File.Exists(Path.Combine(dir, "x.onnx")));
        Directory.Delete(dir, true);
    }

    [Fact]
    public async Task Inception_next_builds_from_the_variant_table_with_timm_parameter_count_macs_and_preprocessing()
    {
        var dir = CliRunner.TempDirectory();
        var path = Path.Combine(dir, "inext.onnx");
        var build = await CliRunner.RunOkAsync("model", "build", "--arch", "inception_next_base_384", "--output", path, "--json");
        Assert.Contains("UNTRAINED WEIGHTS", build.Error);
        Assert.Equal(86_672_136, JsonDocument.Parse(build.Out).RootElement.GetProperty("parameters").GetInt64());

        var info = JsonDocument.Parse((await CliRunner.RunOkAsync("model", "inspect", path, "--json")).Out).RootElement;
        Assert.Equal("inception_next_base", info.GetProperty("architecture").GetString());
        Assert.Equal(86_672_136, info.GetProperty("parameters").GetInt64());
        Assert.True(info.GetProperty("graph_parameters").GetInt64() < 86_672_136); // BatchNorm folded
        Assert.Equal("logits", info.GetProperty("output").GetString());
        Assert.Equal(384, info.GetProperty("preprocessing").GetProperty("resize_shorter").GetInt32());
        Assert.Equal(384, info.GetProperty("preprocessing").GetProperty("crop_height").GetInt32());
        Assert.Equal("bicubic", info.GetProperty("preprocessing").GetProperty("interpolation").GetString());
        // MACs at 224 (the paper's 14.9 G for base): the graph does the architecture's work.
        Assert.InRange(info.GetProperty("gmacs").GetDouble(), 14.8, 15.0);
        Assert.Equal(JsonValueKind.Null, info.GetProperty("reference_accuracy").ValueKind); // untrained: no claim
        Directory.Delete(dir, true);
    }

    [Fact]
    public async Task Inception_next_weights_are_detected_from_tensor_names_and_arch_mismatches_are_refused()
    {
        Repository.RequireShared();
        var dir = CliRunner.TempDirectory();
        var weights = Repository.Reference("golden-inceptionnext-mini", "timm.safetensors");
        var path = Path.Combine(dir, "mini.onnx");
        await CliRunner.RunOkAsync("model", "build", "--weights", weights, "--output", path);
        var info = JsonDocument.Parse((await CliRunner.RunOkAsync("model", "inspect", path, "--json")).Out).RootElement;
        Assert.StartsWith("inception_next_custom", info.GetProperty("architecture").GetString());
        Assert.True(info.GetProperty("trained").GetBoolean());
        Assert.Equal("timm", info.GetProperty("weights_format").GetString());

        var wrong = await CliRunner.RunAsync("model", "build", "--weights", weights, "--arch", "inception_next_tiny", "--output", Path.Combine(dir, "x.onnx"));
        Assert.Equal(1, wrong.ExitCode);
        Assert.Contains("inception_next_tiny was requested", Assert.Single(wrong.ErrorLines));
        var convnext = await CliRunner.RunAsync("model", "build", "--weights", weights, "--arch", "tiny", "--output", Path.Combine(dir, "y.onnx"));
        Assert.Equal(1, convnext.ExitCode);
        Assert.Contains("InceptionNeXt weights", Assert.Single(convnext.ErrorLines));
        var unknown = await CliRunner.RunAsync("model", "build", "--arch", "inception_next_huge", "--output", Path.Combine(dir, "z.onnx"));
        Assert.Equal(2, unknown.ExitCode);
        Assert.Contains("inception_next_tiny", unknown.Error);
        Directory.Delete(dir, true);
    }
}
