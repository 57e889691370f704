namespace ConvNeXt.Batch.Cli.Tests;

public class ArgumentTests
{
    [Theory]
    [InlineData("frobnicate")]
    [InlineData("model", "build")]                                            // --output missing
    [InlineData("model", "build", "--arch", "gigantic", "-o", "x.onnx")]     // unknown variant
    [InlineData("model", "build", "--precision", "fp8", "-o", "x.onnx")]
    [InlineData("model", "build", "--image-size", "50", "-o", "x.onnx")]
    [InlineData("model", "inspect", "/no/such/model.onnx")]
    [InlineData("model", "fetch", "tiny", "--source", "pytorch-hub")]
    [InlineData("model", "fetch", "tiny", "--sha256", "xyz")]
    [InlineData("model", "fetch", "gigantic")]
    [InlineData("predict")]                                                   // no image, no model
    [InlineData("score", "/no/such/folder", "--model", "m.onnx")]
    [InlineData("score", "--output", "out.txt")]
    [InlineData("bench", "--images", "/no/such/folder")]
    [InlineData("results", "predictions", "--prefix", "a")]                  // --prefix needs --container
    [InlineData("results", "runs", "--format", "xml")]
    [InlineData("watch", "--interval", "-1")]
    [InlineData("validate")]
    public async Task Bad_arguments_exit_2_with_one_line(params string[] args)
    {
        var result = await CliRunner.RunAsync(args);
        Assert.True(result.ExitCode == 2, result.ToString());
        Assert.Single(result.ErrorLines);
        Assert.StartsWith("error: ", result.Error);
        Assert.Equal("", result.Out);
    }

    [Theory]
    [InlineData("--mean", "1,2")]
    [InlineData("--mean", "a,b,c")]
    [InlineData("--std", "1,0,1")]
    [InlineData("--scale", "10")]
    [InlineData("--channel-order", "gbr")]
    [InlineData("--interpolation", "lanczos")]
    [InlineData("--device", "tpu")]
    [InlineData("--resize", "0")]
    [InlineData("--crop", "300", "--resize", "256")]
    public async Task Bad_preprocessing_overrides_exit_2_with_one_line(params string[] overrides)
    {
        Repository.RequireShared();
        var image = Path.Combine(Repository.ImagenetSamples, "n01440764_tench.JPEG");
        var result = await CliRunner.RunAsync(["predict", image, "--model", Repository.SqueezeNet, .. overrides]);
        Assert.True(result.ExitCode == 2, result.ToString());
        Assert.Single(result.ErrorLines);
    }

    [Fact]
    public async Task Device_gpu_is_accepted_but_fails_without_cuda_here_and_auto_falls_back_to_cpu()
    {
        Repository.RequireShared();
        var image = Path.Combine(Repository.ImagenetSamples, "n01440764_tench.JPEG");
        // The parser accepts "gpu" like the classifier does; with no CUDA here, loading fails in one line (exit 1).
        var strict = await CliRunner.RunAsync(["predict", image, "--model", Repository.SqueezeNet, "--preprocessing", "caffe", "--device", "gpu"]);
        Assert.True(strict.ExitCode == 1, strict.ToString());
        Assert.Single(strict.ErrorLines);
        Assert.Contains("CUDA execution provider unavailable", strict.Error);
        // auto: warns and runs on the CPU.
        var auto = await CliRunner.RunAsync(["predict", image, "--model", Repository.SqueezeNet, "--preprocessing", "caffe", "--device", "auto"]);
        Assert.True(auto.ExitCode == 0, auto.ToString());
        Assert.Contains("CUDA execution provider unavailable", auto.Error);
        Assert.Contains("probability", auto.Out);
    }

    [Theory]
    [InlineData("model", "build")]
    [InlineData("model", "inspect")]
    [InlineData("model", "fetch")]
    [InlineData("predict")]
    [InlineData("score")]
    [InlineData("validate")]
    [InlineData("bench")]
    [InlineData("results", "predictions")]
    [InlineData("results", "runs")]
    [InlineData("results", "run")]
    [InlineData("watch")]
    [InlineData("demo")]
    [InlineData("upload")]
    [InlineData("serve")]
    [InlineData("results", "report")]
    public async Task Every_command_has_help(params string[] command)
    {
        var result = await CliRunner.RunAsync([.. command, "--help"]);
        Assert.True(result.ExitCode == 0, result.ToString());
        Assert.Contains("Usage:", result.Out);
    }
}

public class ParseErrorTests
{
    private static string Image => Path.Combine(Repository.ImagenetSamples, "n01440764_tench.JPEG");

    [Fact]
    public async Task A_mistyped_number_is_named_before_a_missing_model()
    {
        var result = await CliRunner.RunAsync(["predict", "photo.jpg", "--top", "three"]);
        Assert.Equal(2, result.ExitCode);
        Assert.Equal("error: --top expects an integer, got 'three' (see 'convnext-batch predict --help')", Assert.Single(result.ErrorLines));
    }

    [Theory]
    [InlineData("--top three", "--top expects an integer, got 'three'")]
    [InlineData("--top 1.5", "--top expects an integer, got '1.5'")]
    [InlineData("--resize x", "--resize expects an integer, got 'x'")]
    [InlineData("--threads many", "--threads expects an integer, got 'many'")]
    [InlineData("--tpo 3 --json", "unknown option '--tpo'")]
    [InlineData("-x", "unknown option '-x'")]
    [InlineData("--preprocessing pil", "'pil' not recognized")]
    public async Task Predict_typos_are_one_line_errors_with_exit_2(string extra, string message)
    {
        Repository.RequireShared();
        var result = await CliRunner.RunAsync(["predict", Image, "--model", Repository.SqueezeNet, .. extra.Split(' ')]);
        Assert.True(result.ExitCode == 2, result.ToString());
        var line = Assert.Single(result.ErrorLines);
        Assert.Contains(message, line);
        Assert.StartsWith("error: ", line);
        Assert.Contains("(see 'convnext-batch predict --help')", line);
        Assert.Equal("", result.Out);
    }

    [Theory]
    [InlineData("score", "{folder}", "--batch-size", "abc")]
    [InlineData("score", "{folder}", "--max-wait-ms", "soon")]
    [InlineData("score", "{folder}", "--decode-workers", "2.5")]
    [InlineData("bench", "--limit", "x")]
    [InlineData("validate", "{folder}", "--chunk-size", "y")]
    [InlineData("validate", "{folder}", "--confused", "many")]
    [InlineData("watch", "--interval", "zz")]
    [InlineData("serve", "--port", "http")]
    [InlineData("results", "runs", "--top", "all")]
    [InlineData("results", "predictions", "--bogus")]
    [InlineData("score", "{folder}", "--bogus")]
    [InlineData("upload", "{folder}", "--bogus")]
    [InlineData("upload", "{folder}", "--parallel", "lots")]
    public async Task Every_command_reports_bad_values_and_unknown_options_as_one_line_with_exit_2(params string[] args)
    {
        Repository.RequireShared();
        args = args.Select(a => a == "{folder}" ? Repository.ImagenetSamples : a).ToArray();
        string[] model = args[0] is "upload" or "results" ? [] : ["--model", Repository.SqueezeNet];
        var result = await CliRunner.RunAsync([.. args, .. model]);
        Assert.True(result.ExitCode == 2, result.ToString());
        var line = Assert.Single(result.ErrorLines);
        Assert.StartsWith("error: ", line);
        Assert.DoesNotContain("Exception", line);
        Assert.DoesNotContain("System.", line);
    }

    [Fact]
    public async Task The_model_can_come_from_the_environment()
    {
        Repository.RequireShared();
        Environment.SetEnvironmentVariable("CONVNEXT_MODEL", Repository.SqueezeNet);
        try
        {
            var result = await CliRunner.RunAsync("predict", Image, "--preprocessing", "caffe", "--labels", Repository.LabelsFile, "--json", "--top", "1");
            Assert.True(result.ExitCode == 0, result.ToString());
            Assert.Contains("n01440764", result.Out);
        }
        finally
        {
            Environment.SetEnvironmentVariable("CONVNEXT_MODEL", null);
        }
    }
}

public class ValidateLabelsTests
{
    /// <summary>
    /// The docs' old collision (<c>validate … --labels val.txt</c> plus SqueezeNet's <c>--labels</c>): with the preset, the
    /// only <c>--labels</c> is val.txt, sniffed as the ground truth, and the class table beside it names the classes.
    /// </summary>
    [Fact]
    public async Task Labels_naming_a_ground_truth_validates_like_ground_truth_does()
    {
        Repository.RequireShared();
        var valList = Repository.Data("imagenet-labels", "val.txt");
        string[] model = ["--model", Repository.SqueezeNet, "--preprocessing", "caffe", "--json", "--quiet"];
        var sniffed = await CliRunner.RunOkAsync(["validate", Repository.ImagenetVal100, "--labels", valList, .. model]);
        var explicitTruth = await CliRunner.RunOkAsync(["validate", Repository.ImagenetVal100, "--ground-truth", valList, "--labels", Repository.LabelsFile, .. model]);
        using var a = System.Text.Json.JsonDocument.Parse(sniffed.Out);
        using var b = System.Text.Json.JsonDocument.Parse(explicitTruth.Out);
        Assert.Equal(100, a.RootElement.GetProperty("count").GetInt32());
        foreach (var key in new[] { "count", "top1", "top5", "mean_confidence" })
            Assert.Equal(b.RootElement.GetProperty(key).GetDouble(), a.RootElement.GetProperty(key).GetDouble());
        // Classes named from the table beside val.txt.
        Assert.StartsWith("n", a.RootElement.GetProperty("most_confused")[0].GetProperty("true").GetString());
        Assert.False(string.IsNullOrEmpty(a.RootElement.GetProperty("most_confused")[0].GetProperty("true_name").GetString()));
    }
}
