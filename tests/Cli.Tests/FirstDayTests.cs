using System.Diagnostics;
using System.Security.Cryptography;
using System.Text.Json;

namespace ConvNeXt.Batch.Cli.Tests;

/// <summary>What a new user meets first: help without an error, completion, counts in words, JSON as written, the model's pin.</summary>
public class FirstDayTests
{
    [Fact]
    public async Task Bare_convnext_batch_prints_help()
    {
        var result = await CliRunner.RunAsync();
        Assert.True(result.ExitCode == 0, result.ToString());
        Assert.Contains("Usage:", result.Out);
        Assert.Contains("completion", result.Out);
        Assert.Empty(result.Error);
    }

    [Fact]
    public async Task Completion_script_completes_commands_and_their_options_in_bash()
    {
        var script = (await CliRunner.RunOkAsync("completion", "bash")).Out;
        var file = Path.Combine(CliRunner.TempDirectory(), "completion.bash");
        await File.WriteAllTextAsync(file, script);
        async Task<string> CompleteAsync(string words)
        {
            var start = new ProcessStartInfo("bash", ["-c", $"source '{file}'; COMP_WORDS=({words}); COMP_CWORD=$((${{#COMP_WORDS[@]}}-1)); _convnext_batch; echo \"${{COMPREPLY[*]}}\""])
                { RedirectStandardOutput = true, RedirectStandardError = true };
            using var process = Process.Start(start)!;
            var output = await process.StandardOutput.ReadToEndAsync();
            await process.WaitForExitAsync();
            Assert.True(process.ExitCode == 0, await process.StandardError.ReadToEndAsync());
            return output.Trim();
        }
        Assert.Equal("serve", await CompleteAsync("convnext-batch ser"));
        Assert.Equal("inspect", await CompleteAsync("convnext-batch model insp"));
        Assert.Contains("--validation-container", (await CompleteAsync("convnext-batch serve --port 7071 --valid")).Split(' '));

        var zsh = await CliRunner.RunOkAsync("completion", "zsh");
        Assert.StartsWith("autoload -U +X bashcompinit && bashcompinit", zsh.Out);
    }

    [Fact]
    public async Task Completion_for_an_unknown_shell_is_one_line_and_exit_2()
    {
        var result = await CliRunner.RunAsync("completion", "fish");
        Assert.Equal(2, result.ExitCode);
        Assert.StartsWith("error: Argument 'fish' not recognized. Must be one of:", Assert.Single(result.ErrorLines));
    }

    [Fact]
    public async Task Quickstart_help_answers_at_once_without_setting_anything_up()
    {
        var start = new ProcessStartInfo("bash", [Path.Combine(Repository.Root, "scripts", "quickstart.sh"), "--help"])
            { RedirectStandardOutput = true, RedirectStandardError = true };
        var clock = Stopwatch.StartNew();
        using var process = Process.Start(start)!;
        var output = await process.StandardOutput.ReadToEndAsync();
        using var guard = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        await process.WaitForExitAsync(guard.Token);
        Assert.Equal(0, process.ExitCode);
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(5), $"took {clock.Elapsed}");
        Assert.StartsWith("One command on a fresh machine", output);
        Assert.DoesNotContain("==>", output);
    }

    [Fact]
    public async Task Model_inspect_shows_the_sha256_to_pin_and_json_keeps_apostrophes()
    {
        Repository.RequireShared();
        var path = Path.Combine(CliRunner.TempDirectory(), "it's.onnx");
        File.Copy(Repository.SqueezeNet, path);
        var result = await CliRunner.RunOkAsync("model", "inspect", path, "--json");
        Assert.Contains("it's.onnx", result.Out);
        Assert.DoesNotContain("\\u0027", result.Out);
        var sha = Convert.ToHexStringLower(SHA256.HashData(await File.ReadAllBytesAsync(path)));
        Assert.Equal(sha, JsonDocument.Parse(result.Out).RootElement.GetProperty("sha256").GetString());
    }

    [Fact]
    public async Task One_image_is_counted_in_the_singular()
    {
        Repository.RequireShared();
        var folder = CliRunner.TempDirectory();
        File.Copy(Directory.GetFiles(Repository.ImagenetSamples).Order(StringComparer.Ordinal).First(), Path.Combine(folder, "one.JPEG"));
        var result = await CliRunner.RunOkAsync(["score", folder, "--output", Path.Combine(folder, "out.jsonl"), "--quiet", .. CliRunner.SqueezeNet]);
        Assert.Contains("scored 1 image (0 errors)", result.Error);
    }

    [Fact]
    public async Task Predict_on_a_folder_and_score_on_a_file_say_what_the_input_is()
    {
        Repository.RequireShared();
        var folder = CliRunner.TempDirectory();
        var file = Path.Combine(folder, "one.JPEG");
        File.Copy(Directory.GetFiles(Repository.ImagenetSamples).Order(StringComparer.Ordinal).First(), file);

        var predict = await CliRunner.RunAsync("predict", folder, "--model", Repository.SqueezeNet);
        Assert.Equal(2, predict.ExitCode);
        Assert.Equal($"error: {folder} is a folder; predict takes image files: for a folder use 'score {folder}' (see 'convnext-batch predict --help')",
            Assert.Single(predict.ErrorLines));

        var score = await CliRunner.RunAsync("score", file, "--model", Repository.SqueezeNet);
        Assert.Equal(2, score.ExitCode);
        Assert.Equal($"error: {file} is a file; score takes a folder (or blob://container): for one image use 'predict {file}' (see 'convnext-batch score --help')",
            Assert.Single(score.ErrorLines));
    }

    [Theory]
    [InlineData("score", "--modle")]
    [InlineData("predict", "--modle")]
    public async Task A_mistyped_option_is_named_before_the_missing_one_it_caused(string command, string typo)
    {
        var folder = CliRunner.TempDirectory();
        var result = await CliRunner.RunAsync(command, folder, typo, "m.onnx");
        Assert.Equal(2, result.ExitCode);
        Assert.Equal($"error: unknown option '{typo}'; did you mean '--model'? (see 'convnext-batch {command} --help')", Assert.Single(result.ErrorLines));
    }

    [Fact]
    public async Task Validate_leaves_out_one_unlabelled_file_with_a_warning()
    {
        Repository.RequireShared();
        var folder = CliRunner.TempDirectory();
        var samples = Directory.GetFiles(Repository.ImagenetSamples, "n*_*.JPEG").Order(StringComparer.Ordinal).Take(3).ToList();
        foreach (var sample in samples)
            File.Copy(sample, Path.Combine(folder, Path.GetFileName(sample)));
        File.Copy(samples[0], Path.Combine(folder, "holiday.JPEG"));

        var result = await CliRunner.RunAsync(["validate", folder, "--quiet", .. CliRunner.SqueezeNet]);
        Assert.True(result.ExitCode == 0, result.ToString());
        Assert.Contains("warning: 1 image has no label in this layout (WnidPrefixed) and is left out, e.g. holiday.JPEG", result.ErrorLines);
    }

    [Fact]
    public async Task A_comma_separated_ground_truth_names_the_formats_expected()
    {
        Repository.RequireShared();
        var truth = Path.Combine(CliRunner.TempDirectory(), "truth.csv");
        await File.WriteAllTextAsync(truth, "ILSVRC2012_val_00000001,65\nILSVRC2012_val_00000002,970\n");
        var result = await CliRunner.RunAsync(["validate", Repository.ImagenetVal100, "--ground-truth", truth, "--quiet", .. CliRunner.SqueezeNet]);
        Assert.Equal(1, result.ExitCode);
        Assert.Equal($"error: label file {truth} is comma-separated; expected '<file> <class index>' per line (val.txt) or one devkit class id per line (ILSVRC2012_validation_ground_truth.txt)",
            Assert.Single(result.ErrorLines));
    }
}
