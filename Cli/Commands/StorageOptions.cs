using System.CommandLine;
using Azure.Data.Tables;
using Azure.Storage.Blobs;

namespace ConvNeXt.Batch.Cli.Commands;

/// <summary>The storage account a command talks to: <c>--connection-string</c>, else <c>Storage__ConnectionString</c>, else local Azurite.</summary>
internal sealed class StorageConnectionOption
{
    public const string EnvironmentVariable = "Storage__ConnectionString";
    public const string Azurite = "UseDevelopmentStorage=true";

    public Option<string?> ConnectionString { get; } = new("--connection-string")
    {
        Description = $"Storage connection string (default: ${EnvironmentVariable}, else local Azurite)",
        HelpName = "STRING",
    };

    public StorageConnectionOption(Command command) => command.Options.Add(ConnectionString);

    /// <summary>Explicitly configured (option or environment), as opposed to the Azurite fallback.</summary>
    public string? Configured(ParseResult parse) =>
        parse.GetValue(ConnectionString) ?? OptionParsing.Environment(EnvironmentVariable);

    public string Resolve(ParseResult parse) => Configured(parse) ?? Azurite;

    public BlobServiceClient Blobs(ParseResult parse) => new(Resolve(parse));

    public TableServiceClient Tables(ParseResult parse) => new(Resolve(parse));
}
