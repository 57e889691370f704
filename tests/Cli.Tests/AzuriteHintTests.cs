namespace ConvNeXt.Batch.Cli.Tests;

/// <summary>An Azurite started as its own docs say (no <c>--skipApiVersionCheck</c>) refuses the SDK: one line with the fix.</summary>
public class AzuriteHintTests
{
    [Fact]
    public async Task An_azurite_that_refuses_the_api_version_gets_one_line_with_the_fix()
    {
        Repository.RequireShared();
        await using var strict = await Azurite.StartAsync(checkApiVersion: true);
        var folder = CliRunner.TempDirectory();
        File.Copy(Directory.GetFiles(Repository.ImagenetSamples).Order(StringComparer.Ordinal).First(), Path.Combine(folder, "a.JPEG"));

        var result = await CliRunner.RunAsync("upload", folder, "--container", "strict", "--connection-string", strict.ConnectionString, "--quiet");
        Assert.True(result.ExitCode == 1, result.ToString());
        var line = Assert.Single(result.ErrorLines);
        // On failure, the whole run (a CI run once saw "cannot reach blob storage" here, not reproduced since).
        Assert.True(line.StartsWith("error: Azurite refuses", StringComparison.Ordinal), result.ToString());
        Assert.Equal("error: Azurite refuses this SDK's storage API version: restart it with --skipApiVersionCheck --loose "
            + "(tools/azurite/node_modules/.bin/azurite --skipApiVersionCheck --loose --inMemoryPersistence)", line);
    }

    [Fact]
    public async Task Health_names_the_api_version_refusal_and_its_fix()
    {
        await using var strict = await Azurite.StartAsync(checkApiVersion: true);
        var account = new Service.Storage.StorageAccount(new Service.Storage.StorageOptions { ConnectionString = strict.ConnectionString });
        var health = await Service.Storage.StorageHealth.CheckAsync(account);
        // Whichever endpoint refuses (the table service may accept the version) says why in one line.
        Assert.True(new[] { health.Blob, health.Table }.Any(h => h?.EndsWith(Service.Storage.AzuriteApiVersion.Fix, StringComparison.Ordinal) == true),
            $"blob: {health.Blob}; table: {health.Table}");
        Assert.All(new[] { health.Blob, health.Table }, h => Assert.DoesNotContain("\n", h ?? ""));
    }

    [Fact]
    public void Every_documented_azurite_line_skips_the_api_version_check()
    {
        foreach (var path in new[] { "README.md", "docs/cli.md", "Cli/Commands/StorageConnectionOption.cs", "scripts/quickstart.sh" })
            foreach (var line in File.ReadLines(Path.Combine(Repository.Root, path)))
                if (System.Text.RegularExpressions.Regex.IsMatch(line, @"(^|[\s/(])azurite (--|&)"))
                    Assert.True(line.Contains("--skipApiVersionCheck") && line.Contains("--loose"), $"{path}: {line}");
    }
}
