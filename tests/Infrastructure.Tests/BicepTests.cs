namespace ConvNeXt.Batch.Infrastructure.Tests;

/// <summary>The template compiles and lints clean with the pinned Bicep CLI, offline.</summary>
[Collection(CompiledTemplateCollection.Name)]
public sealed class BicepTests(CompiledTemplate template)
{
    [Fact]
    public void Build_ProducesArmJsonWithoutDiagnostics()
    {
        Assert.Equal(0, template.Build.ExitCode);
        Assert.DoesNotContain("Warning", template.Build.Output);
        Assert.DoesNotContain("Error", template.Build.Output);
        Assert.Equal("subscription", SchemaScope(template.Root.GetProperty("$schema").GetString()!));
    }

    [Fact]
    public void Lint_ReportsNoWarningsOrErrors()
    {
        Assert.True(template.Lint.ExitCode == 0 && string.IsNullOrWhiteSpace(template.Lint.Output),
            $"bicep lint (exit {template.Lint.ExitCode}):\n{template.Lint.Output}");
    }

    [Fact]
    public void Modules_AreLocalFiles()
    {
        // Registry (br:) or template-spec (ts:) modules would need the network at build time.
        foreach (var file in Directory.EnumerateFiles(CompiledTemplate.InfrastructureDirectory, "*.bicep", SearchOption.AllDirectories))
        {
            var text = File.ReadAllText(file);
            Assert.DoesNotContain("'br:", text);
            Assert.DoesNotContain("'br/", text);
            Assert.DoesNotContain("'ts:", text);
        }
    }

    [Fact]
    public async Task Lint_FlagsABrokenTemplate()
    {
        // Proves the lint test can fail: an unused parameter is a linter warning.
        var dir = Path.Combine(Path.GetTempPath(), "convnext-batch-lint-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(dir);
        try
        {
            await File.WriteAllTextAsync(Path.Combine(dir, "bad.bicep"), "param unused string\n");
            var result = await BicepCli.RunAsync(dir, "lint", "bad.bicep");
            Assert.Contains("no-unused-params", result.Output);
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    private static string SchemaScope(string schema) =>
        schema.Contains("subscriptionDeploymentTemplate", StringComparison.OrdinalIgnoreCase) ? "subscription" : schema;
}
