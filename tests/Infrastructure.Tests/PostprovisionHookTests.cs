using System.Diagnostics;

namespace ConvNeXt.Batch.Infrastructure.Tests;

/// <summary>scripts/azd-postprovision.sh with stand-in `az` and `azd` on PATH that record their calls.</summary>
public sealed class PostprovisionHookTests : IDisposable
{
    private readonly string _root = Path.Combine(Path.GetTempPath(), "convnext-hook-" + Guid.NewGuid().ToString("N")[..8]);
    private string Log => Path.Combine(_root, "calls.log");

    public PostprovisionHookTests()
    {
        Directory.CreateDirectory(Path.Combine(_root, "bin"));
        Write("az", $$"""
            #!/usr/bin/env bash
            echo "az $*" >> '{{Log}}'
            case "$*" in
              *"containerapp show"*) echo "${FAKE_KIND:-functionapp}" ;;
              *"storage blob exists"*) echo "${FAKE_BLOB_EXISTS:-true}" ;;
            esac
            """);
        Write("azd", $$"""
            #!/usr/bin/env bash
            echo "azd $*" >> '{{Log}}'
            """);
    }

    private void Write(string name, string text)
    {
        var path = Path.Combine(_root, "bin", name);
        File.WriteAllText(path, text.Replace("\r", "") + "\n");
        if (!OperatingSystem.IsWindows())
            File.SetUnixFileMode(path, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
    }

    private async Task<(int ExitCode, string Output)> RunAsync(Dictionary<string, string> extra)
    {
        var start = new ProcessStartInfo("sh", [Path.Combine(Repository.Root, "scripts", "azd-postprovision.sh")])
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        start.Environment["PATH"] = Path.Combine(_root, "bin") + ":" + Environment.GetEnvironmentVariable("PATH");
        start.Environment["AZURE_RESOURCE_GROUP"] = "rg-x";
        start.Environment["AZURE_SCORING_APP_NAME"] = "func-scoring-x";
        start.Environment["AZURE_FUNCTION_APP_NAME"] = "func-api-x";
        start.Environment["AZURE_STORAGE_ACCOUNT_NAME"] = "stx";
        start.Environment["MODEL_BLOB"] = "models/convnext_tiny.onnx";
        start.Environment.Remove("MODEL_SHA256");
        start.Environment.Remove("MODEL_FILE");
        foreach (var (k, v) in extra)
            start.Environment[k] = v;
        using var process = Process.Start(start)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync();
        return (process.ExitCode, await stdout + await stderr);
    }

    private string[] Calls() => File.Exists(Log) ? File.ReadAllLines(Log) : [];

    [Fact]
    public async Task A_container_app_that_is_not_a_function_app_fails_azd_up()
    {
        var (code, output) = await RunAsync(new() { ["FAKE_KIND"] = "containerapp", ["MODEL_SHA256"] = "ab" });
        Assert.Equal(1, code);
        Assert.Contains("postprovision FAILED: func-scoring-x has kind 'containerapp', not 'functionapp'", output);
    }

    [Fact]
    public async Task A_model_file_is_uploaded_pinned_in_the_environment_and_set_on_both_apps()
    {
        var model = Path.Combine(_root, "model.onnx");
        await File.WriteAllTextAsync(model, "not really a model");
        var sha = Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(await File.ReadAllBytesAsync(model)));
        var (code, output) = await RunAsync(new() { ["MODEL_FILE"] = model });
        Assert.True(code == 0, output);
        var calls = Calls();
        Assert.Contains(calls, c => c.StartsWith("az storage blob upload --auth-mode login --account-name stx -c models -n convnext_tiny.onnx -f " + model, StringComparison.Ordinal));
        Assert.Contains($"azd env set MODEL_SHA256 {sha}", calls);
        foreach (var app in new[] { "func-scoring-x", "func-api-x" })
            Assert.Contains(calls, c => c.StartsWith($"az containerapp update -g rg-x -n {app} --set-env-vars Model__Sha256={sha}", StringComparison.Ordinal));
        // The kind check ran first, for both apps.
        Assert.StartsWith("az containerapp show -g rg-x -n func-scoring-x", calls[0], StringComparison.Ordinal);
        Assert.Contains($"pinned to sha256 {sha}", output);

        // Again with the pin in place and the blob there: nothing is uploaded or changed.
        File.Delete(Log);
        (code, output) = await RunAsync(new() { ["MODEL_FILE"] = model, ["MODEL_SHA256"] = sha });
        Assert.True(code == 0, output);
        Assert.DoesNotContain(Calls(), c => c.Contains("upload", StringComparison.Ordinal) || c.StartsWith("azd", StringComparison.Ordinal));
    }

    [Fact]
    public async Task No_model_pinned_fails_with_what_to_do()
    {
        var (code, output) = await RunAsync([]);
        Assert.Equal(1, code);
        Assert.Contains("no model pinned: run 'azd env set MODEL_FILE path/to/model.onnx'", output);

        (code, output) = await RunAsync(new() { ["MODEL_SHA256"] = "ab", ["FAKE_BLOB_EXISTS"] = "false" });
        Assert.Equal(1, code);
        Assert.Contains("MODEL_SHA256 is set but models/convnext_tiny.onnx does not exist", output);

        (code, output) = await RunAsync(new() { ["MODEL_SHA256"] = "ab" });
        Assert.True(code == 0, output);
    }

    public void Dispose() => Directory.Delete(_root, recursive: true);
}
