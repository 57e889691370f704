using ConvNeXt.Batch.Cli;

namespace ConvNeXt.Batch.Cli.Tests;

public sealed record CliResult(int ExitCode, string Out, string Error)
{
    public string[] ErrorLines => Error.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);

    public override string ToString() => $"exit {ExitCode}\n--- stdout\n{Out}\n--- stderr\n{Error}";
}

/// <summary>Runs <c>convnext-batch</c> in-process with captured output.</summary>
public static class CliRunner
{
    public static Task<CliResult> RunAsync(params string[] args) => RunAsync(progress: null, args);

    /// <summary>Runs with progress lines drawn as on a terminal (count, rate, ETA on standard error).</summary>
    public static Task<CliResult> RunWithProgressAsync(params string[] args) => RunAsync(progress: true, args);

    private static async Task<CliResult> RunAsync(bool? progress, string[] args)
    {
        var output = new StringWriter();
        var error = new StringWriter();
        var code = await Program.InvokeAsync(args, output, error, progress: progress);
        return new CliResult(code, output.ToString(), error.ToString());
    }

    public static async Task<CliResult> RunOkAsync(params string[] args)
    {
        var result = await RunAsync(args);
        Assert.True(result.ExitCode == 0, result.ToString());
        return result;
    }

    /// <summary>SqueezeNet 1.1 with the Caffe preprocessing it was trained with (see data/README.md), as the preset.</summary>
    public static string[] SqueezeNet =>
        ["--model", Repository.SqueezeNet, "--preprocessing", "caffe", "--labels", Repository.LabelsFile];

    /// <summary>The same preprocessing spelled out flag by flag.</summary>
    public static string[] SqueezeNetExplicit =>
    [
        "--model", Repository.SqueezeNet, "--channel-order", "bgr", "--scale", "255", "--mean", "104,117,123",
        "--std", "1,1,1", "--resize", "256", "--crop", "224", "--interpolation", "bilinear", "--labels", Repository.LabelsFile,
    ];

    public static string TempDirectory()
    {
        var path = Path.Combine(Path.GetTempPath(), "convnext-cli-tests", Guid.NewGuid().ToString("N")[..12]);
        Directory.CreateDirectory(path);
        return path;
    }
}

/// <summary>A small random ConvNeXt (atto, 64×64 input, ImageNet labels) built once per test class.</summary>
public sealed class AttoModelFixture : IAsyncLifetime
{
    public string Directory { get; } = CliRunner.TempDirectory();
    public string ModelPath => Path.Combine(Directory, "atto64.onnx");

    public async Task InitializeAsync()
    {
        Repository.RequireShared();
        await CliRunner.RunOkAsync("model", "build", "--arch", "atto", "--image-size", "64", "--labels", Repository.LabelsFile,
            "--random-seed", "7", "--output", ModelPath);
    }

    public Task DisposeAsync()
    {
        try { System.IO.Directory.Delete(Directory, recursive: true); } catch (IOException) { }
        return Task.CompletedTask;
    }
}

/// <summary>xunit only honours collection definitions in the test assembly itself.</summary>
[CollectionDefinition(AzuriteCollection.Name)]
public sealed class CliAzuriteCollection : ICollectionFixture<AzuriteFixture>;
