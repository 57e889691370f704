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
    public async Task Every_command_has_help(params string[] command)
    {
        var result = await CliRunner.RunAsync([.. command, "--help"]);
        Assert.True(result.ExitCode == 0, result.ToString());
        Assert.Contains("Usage:", result.Out);
    }
}
