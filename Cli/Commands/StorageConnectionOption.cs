using System.CommandLine;
using System.Net.Sockets;
using ConvNeXt.Batch.Service.Storage;

namespace ConvNeXt.Batch.Cli.Commands;

/// <summary>The storage account a command talks to: <c>--connection-string</c>, else <c>Storage__ConnectionString</c>, else local Azurite.</summary>
internal sealed class StorageConnectionOption
{
    public const string EnvironmentVariable = "Storage__ConnectionString";
    public const string Azurite = "UseDevelopmentStorage=true";
    public const string StartAzurite = "start Azurite (tools/azurite/node_modules/.bin/azurite --skipApiVersionCheck --loose --inMemoryPersistence, or scripts/quickstart.sh) or pass --connection-string";

    /// <summary>How long the reachability check waits for a TCP connection before saying the account is unreachable.</summary>
    internal static TimeSpan ConnectTimeout { get; set; } = TimeSpan.FromSeconds(3);

    public Option<string?> ConnectionString { get; } = new("--connection-string")
    {
        Description = $"Storage connection string (default: ${EnvironmentVariable}, else local Azurite)",
        HelpName = "STRING",
    };

    public StorageConnectionOption(Command command) => command.Options.Add(ConnectionString);

    /// <summary>Explicitly configured (option or environment), as opposed to the Azurite fallback.</summary>
    public string? Configured(ParseResult parse) =>
        parse.GetValue(ConnectionString) ?? OptionParsing.Environment(EnvironmentVariable);

    /// <summary>The connection string of the Azurite this command started (<see cref="LocalAzuriteOption"/>), if it started one.</summary>
    public string? Started { get; set; }

    /// <summary>Whether the user named an account (option, connection string or Entra ID endpoints in the environment): then no Azurite is started.</summary>
    public bool IsConfigured(ParseResult parse) => Configured(parse) is not null || EntraEndpoints() is not null;

    public string Resolve(ParseResult parse) => Configured(parse) ?? Started ?? Azurite;

    /// <summary><c>Storage__BlobServiceUri</c> and <c>Storage__TableServiceUri</c> from the environment, when both are set.</summary>
    private static (Uri Blob, Uri Table)? EntraEndpoints() =>
        Uri.TryCreate(OptionParsing.Environment("Storage__BlobServiceUri"), UriKind.Absolute, out var blob) &&
        Uri.TryCreate(OptionParsing.Environment("Storage__TableServiceUri"), UriKind.Absolute, out var table)
            ? (blob, table) : null;

    /// <summary>Where the connection string came from, for messages.</summary>
    public string Source(ParseResult parse) =>
        parse.GetValue(ConnectionString) is not null ? "--connection-string"
        : OptionParsing.Environment(EnvironmentVariable) is not null ? "$" + EnvironmentVariable
        : EntraEndpoints() is not null ? "$Storage__BlobServiceUri and $Storage__TableServiceUri (Entra ID)"
        : Started is not null ? "the Azurite this command started"
        : "local Azurite (no --connection-string or $" + EnvironmentVariable + ")";

    /// <summary>
    /// The account, after two quick checks that turn the SDK's slow, raw failures into one line: the
    /// connection string parses (else exit 2), and its blob and table endpoints accept a TCP connection
    /// (else exit 1 with what to do), instead of seconds of retries ending in "Retry failed after 4 tries".
    /// </summary>
    public async Task<StorageAccount> OpenAsync(ParseResult parse, CancellationToken cancellationToken)
    {
        var connectionString = Resolve(parse);
        StorageAccount account;
        try
        {
            // A deployed account accepts Entra ID only: its service URIs (as the apps' settings name them) with
            // DefaultAzureCredential (`az login`), when no connection string is given.
            account = Configured(parse) is null && EntraEndpoints() is { } endpoints
                ? new StorageAccount(new StorageOptions { BlobServiceUri = endpoints.Blob, TableServiceUri = endpoints.Table })
                : new StorageAccount(new StorageOptions { ConnectionString = connectionString });
        }
        catch (Exception e) when (e is FormatException or ArgumentException or InvalidOperationException)
        {
            throw new UsageException($"the connection string from {Source(parse)} is malformed: {e.Message}");
        }
        var source = Source(parse);
        await CheckReachableAsync(account.Blobs.Uri, "blob", source, cancellationToken);
        await CheckReachableAsync(account.Tables.Uri, "table", source, cancellationToken);
        return account;
    }

    private static async Task CheckReachableAsync(Uri endpoint, string service, string source, CancellationToken cancellationToken)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(ConnectTimeout);
        try
        {
            using var tcp = new TcpClient();
            await tcp.ConnectAsync(endpoint.Host, endpoint.Port, timeout.Token);
        }
        catch (Exception e) when (e is SocketException || e is OperationCanceledException && !cancellationToken.IsCancellationRequested)
        {
            var why = e is SocketException s ? s.SocketErrorCode switch
            {
                SocketError.ConnectionRefused => "connection refused",
                SocketError.HostNotFound or SocketError.NoData => "host not found",
                _ => s.Message,
            } : $"no answer in {ConnectTimeout.TotalSeconds:0} s";
            var hint = source.StartsWith("local Azurite", StringComparison.Ordinal)
                ? StartAzurite
                : $"check the endpoint in {source}, or start Azurite if it points to one";
            throw new CommandFailedException($"cannot reach {service} storage at {endpoint.Host}:{endpoint.Port} ({why}; storage from {source}): {hint}", e);
        }
    }
}
