using System.CommandLine;
using Azure.Identity;
using ConvNeXt.Batch.Service.Operations;

namespace ConvNeXt.Batch.Cli.Commands;

/// <summary>
/// The Service Bus namespace the operator commands talk to: <c>--namespace</c>, else
/// <c>AZURE_SERVICEBUS_FULLY_QUALIFIED_NAMESPACE</c> (an azd output), reached with
/// <c>DefaultAzureCredential</c> (az login, azd auth, a managed identity) like the rest of the CLI.
/// </summary>
internal sealed class ServiceBusNamespaceOption
{
    public const string EnvironmentVariable = "AZURE_SERVICEBUS_FULLY_QUALIFIED_NAMESPACE";

    public Option<string?> Namespace { get; } = new("--namespace")
    {
        Description = $"Service Bus namespace: NAME or NAME.servicebus.windows.net (default: ${EnvironmentVariable}, from `azd env get-values`)",
        HelpName = "NAMESPACE",
    };

    public ServiceBusNamespaceOption(Command command)
    {
        command.Options.Add(Namespace);
        Namespace.Validators.Add(r =>
        {
            if (r.GetValueOrDefault<string?>() is { } value && Problem(value) is { } problem)
                r.AddError("--namespace " + problem);
        });
    }

    /// <summary>The fully qualified namespace; no namespace configured is a usage error (exit 2).</summary>
    public string Resolve(ParseResult parse)
    {
        var value = parse.GetValue(Namespace) ?? OptionParsing.Environment(EnvironmentVariable)
            ?? throw new UsageException($"no Service Bus namespace: pass --namespace or set ${EnvironmentVariable}");
        if (Problem(value) is { } problem)
            throw new UsageException($"${EnvironmentVariable} {problem}");
        return value.Contains('.', StringComparison.Ordinal) ? value : value + ".servicebus.windows.net";
    }

    public ServiceBusQueues Open(ParseResult parse) => new(Resolve(parse), new DefaultAzureCredential());

    private static string? Problem(string value) =>
        value.Length == 0 || value.Any(c => !(char.IsAsciiLetterOrDigit(c) || c is '-' or '.'))
            ? $"'{value}' is not a namespace name (letters, digits, '-', optionally .servicebus.windows.net)"
            : null;
}
