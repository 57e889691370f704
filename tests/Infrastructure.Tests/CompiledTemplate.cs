using System.Text.Json;
using System.Text.RegularExpressions;

namespace ConvNeXt.Batch.Infrastructure.Tests;

/// <summary>
/// Infrastructure/main.bicep compiled once by the real Bicep CLI, plus its lint output, with
/// helpers to walk the ARM JSON (nested module deployments included).
/// </summary>
public sealed partial class CompiledTemplate : IAsyncLifetime
{
    public static string InfrastructureDirectory => Path.Combine(Repository.Root, "Infrastructure");

    public string Json { get; private set; } = "";
    public JsonElement Root { get; private set; }
    public BicepCli.Result Build { get; private set; } = null!;
    public BicepCli.Result Lint { get; private set; } = null!;

    public async Task InitializeAsync()
    {
        var output = Path.Combine(Path.GetTempPath(), "convnext-batch-bicep-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(output);
        try
        {
            Build = await BicepCli.RunAsync(InfrastructureDirectory, "build", "main.bicep", "--outdir", output);
            var compiled = Path.Combine(output, "main.json");
            if (Build.ExitCode != 0 || !File.Exists(compiled))
                throw new InvalidOperationException($"bicep build failed ({Build.ExitCode}):\n{Build.Output}");
            Json = await File.ReadAllTextAsync(compiled);
            Root = JsonDocument.Parse(Json).RootElement.Clone();
        }
        finally
        {
            Directory.Delete(output, recursive: true);
        }
        Lint = await BicepCli.RunAsync(InfrastructureDirectory, "lint", "main.bicep");
    }

    public Task DisposeAsync() => Task.CompletedTask;

    /// <summary>A module deployment: its compiled template and the parameter values main passes it.</summary>
    public sealed record Module(string Name, JsonElement Template, JsonElement Parameters)
    {
        public IEnumerable<(string Symbol, JsonElement Resource)> Resources => ResourcesOf(Template);

        public IEnumerable<JsonElement> OfType(string type) =>
            Resources.Select(r => r.Resource).Where(r => string.Equals(r.GetProperty("type").GetString(), type, StringComparison.OrdinalIgnoreCase));

        public JsonElement Single(string type) => OfType(type).Single();

        public JsonElement Variable(string name) => Template.GetProperty("variables").GetProperty(name);

        /// <summary>The literal value main passes for a parameter, or the raw expression.</summary>
        public JsonElement Parameter(string name) => Parameters.GetProperty(name).GetProperty("value");

        /// <summary>Replaces parameters('x') references in an expression with literal values main passes.</summary>
        public string Resolve(string expression)
        {
            if (!expression.StartsWith('['))
                return expression;
            var format = FormatCall().Match(expression);
            if (format.Success)
            {
                var args = format.Groups["args"].Value.Split(',', StringSplitOptions.TrimEntries)
                    .Select(ResolveArgument).ToArray();
                return string.Format(format.Groups["format"].Value, args);
            }
            return ResolveArgument(expression.Trim('[', ']'));
        }

        private string ResolveArgument(string argument)
        {
            var parameter = ParameterCall().Match(argument);
            if (!parameter.Success)
                return argument;
            var value = Parameter(parameter.Groups["name"].Value);
            return value.ValueKind == JsonValueKind.String ? value.GetString()! : value.GetRawText();
        }

        /// <summary>The role GUID a roleDefinitionId expression names (via the imported builtInRoles table).</summary>
        public string RoleGuid(JsonElement roleAssignment)
        {
            var expression = roleAssignment.GetProperty("properties").GetProperty("roleDefinitionId").GetString()!;
            var reference = BuiltInRoleReference().Match(expression);
            if (reference.Success)
                return Variable("builtInRoles").GetProperty(reference.Groups["role"].Value).GetString()!;
            var literal = GuidLiteral().Match(expression);
            return literal.Success ? literal.Value : throw new InvalidOperationException("no role id in " + expression);
        }
    }

    public Module GetModule(string name)
    {
        var deployment = ResourcesOf(Root).Select(r => r.Resource).Single(r =>
            r.GetProperty("type").GetString() == "Microsoft.Resources/deployments" && r.GetProperty("name").GetString() == name);
        var properties = deployment.GetProperty("properties");
        return new Module(name, properties.GetProperty("template"), properties.GetProperty("parameters"));
    }

    public IEnumerable<Module> Modules =>
        ResourcesOf(Root).Select(r => r.Resource)
            .Where(r => r.GetProperty("type").GetString() == "Microsoft.Resources/deployments")
            .Select(r => GetModule(r.GetProperty("name").GetString()!));

    /// <summary>Resources of a template, whether an array (language version 1) or keyed by symbolic name (2.0).</summary>
    public static IEnumerable<(string Symbol, JsonElement Resource)> ResourcesOf(JsonElement template)
    {
        var resources = template.GetProperty("resources");
        return resources.ValueKind == JsonValueKind.Array
            ? resources.EnumerateArray().Select((r, i) => (i.ToString(), r))
            : resources.EnumerateObject().Select(p => (p.Name, p.Value));
    }

    [GeneratedRegex(@"^\[format\('(?<format>[^']*)',\s*(?<args>.+)\)\]$")]
    private static partial Regex FormatCall();

    [GeneratedRegex(@"^parameters\('(?<name>[^']+)'\)$")]
    private static partial Regex ParameterCall();

    [GeneratedRegex(@"variables\('builtInRoles'\)\.(?<role>\w+)")]
    private static partial Regex BuiltInRoleReference();

    [GeneratedRegex(@"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")]
    private static partial Regex GuidLiteral();
}

/// <summary>One compilation and one lint run shared by every test class that needs them.</summary>
[CollectionDefinition(Name)]
public sealed class CompiledTemplateCollection : ICollectionFixture<CompiledTemplate>
{
    public const string Name = "compiled main.bicep";
}
