using System.Text.Json;
using System.Text.RegularExpressions;

namespace ConvNeXt.Batch.Infrastructure.Tests;

/// <summary>
/// main.bicep deployed on paper: <c>bicep snapshot</c> evaluates the template for one set of parameters
/// (every condition, loop and module resolved; values known only at deployment, such as principal ids,
/// left as expressions) and lists the resources a deployment would create. It shows what a profile
/// really deploys, where the compiled JSON shows only the expressions.
/// </summary>
public sealed partial class TemplateSnapshot
{
    public const string Subscription = "00000000-0000-0000-0000-000000000001";

    public IReadOnlyList<JsonElement> Resources { get; }
    public JsonElement Outputs { get; }

    private TemplateSnapshot(JsonElement root)
    {
        Resources = root.GetProperty("predictedResources").EnumerateArray().ToList();
        Outputs = root.GetProperty("outputs");
    }

    /// <summary>Snapshots main.bicep with <paramref name="parameters"/> (Bicep literals by name) added to the required ones.</summary>
    public static async Task<TemplateSnapshot> CreateAsync(IReadOnlyDictionary<string, string> parameters)
    {
        var dir = Path.Combine(Path.GetTempPath(), "convnext-snapshot-" + Guid.NewGuid().ToString("N")[..8]);
        try
        {
            CopyDirectory(CompiledTemplate.InfrastructureDirectory, dir);
            var lines = new List<string> { "using 'main.bicep'", "param environmentName = 'snap'", "param location = 'swedencentral'" };
            lines.AddRange(parameters.Select(p => $"param {p.Key} = {p.Value}"));
            await File.WriteAllLinesAsync(Path.Combine(dir, "test.bicepparam"), lines);
            var result = await BicepCli.RunAsync(dir, "snapshot", "test.bicepparam", "--mode", "overwrite",
                "--subscription-id", Subscription, "--location", "swedencentral");
            var file = Path.Combine(dir, "test.snapshot.json");
            if (result.ExitCode != 0 || !File.Exists(file))
                throw new InvalidOperationException($"bicep snapshot failed ({result.ExitCode}):\n{result.Output}");
            using var document = JsonDocument.Parse(await File.ReadAllTextAsync(file));
            var diagnostics = document.RootElement.GetProperty("diagnostics");
            if (diagnostics.GetArrayLength() > 0)
                throw new InvalidOperationException("bicep snapshot diagnostics: " + diagnostics.GetRawText());
            return new TemplateSnapshot(document.RootElement.Clone());
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    public IEnumerable<JsonElement> OfType(string type) =>
        Resources.Where(r => string.Equals(r.GetProperty("type").GetString(), type, StringComparison.OrdinalIgnoreCase));

    public JsonElement App(string namePrefix) =>
        OfType("Microsoft.App/containerApps").Single(a => a.GetProperty("name").GetString()!.StartsWith(namePrefix, StringComparison.Ordinal));

    /// <summary>The container's environment variables of an app, by name.</summary>
    public static Dictionary<string, string> Env(JsonElement app) =>
        app.GetProperty("properties").GetProperty("template").GetProperty("containers")[0].GetProperty("env").EnumerateArray()
            .ToDictionary(e => e.GetProperty("name").GetString()!, e => e.GetProperty("value").GetString()!);

    public string Output(string name) => Outputs.GetProperty(name).ValueKind == JsonValueKind.String
        ? Outputs.GetProperty(name).GetString()! : Outputs.GetProperty(name).GetRawText();

    /// <summary>A role assignment: who (identity name, or the literal principal id), which role (GUID), on which resource id, as which principal type.</summary>
    public sealed record Grant(string Principal, string Role, string Scope, string PrincipalType);

    public IReadOnlyList<Grant> Grants() => OfType("Microsoft.Authorization/roleAssignments").Select(a =>
    {
        var properties = a.GetProperty("properties");
        var principal = properties.GetProperty("principalId").GetString()!;
        var identity = IdentityReference().Match(principal);
        // The id is an expression while the principal is known only at deployment, else a plain resource id.
        var id = a.GetProperty("id").GetString()!;
        var scope = ExtensionScope().Match(id);
        const string assignments = "/providers/Microsoft.Authorization/roleAssignments/";
        return new Grant(identity.Success ? identity.Groups["name"].Value : principal,
            properties.GetProperty("roleDefinitionId").GetString()![^36..],
            scope.Success ? scope.Groups["scope"].Value
            : id.Contains(assignments, StringComparison.Ordinal) ? id[..id.IndexOf(assignments, StringComparison.Ordinal)]
            : throw new InvalidOperationException("no scope in " + id),
            properties.GetProperty("principalType").GetString()!);
    }).ToList();

    private static void CopyDirectory(string from, string to)
    {
        Directory.CreateDirectory(to);
        foreach (var file in Directory.EnumerateFiles(from, "*.bicep", SearchOption.AllDirectories))
        {
            var target = Path.Combine(to, Path.GetRelativePath(from, file));
            Directory.CreateDirectory(Path.GetDirectoryName(target)!);
            File.Copy(file, target);
        }
    }

    [GeneratedRegex(@"userAssignedIdentities/(?<name>[a-z0-9-]+)'")]
    private static partial Regex IdentityReference();

    [GeneratedRegex(@"^\[extensionResourceId\('(?<scope>[^']+)'")]
    private static partial Regex ExtensionScope();
}
