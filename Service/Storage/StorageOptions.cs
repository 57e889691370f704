namespace ConvNeXt.Batch.Service.Storage;

/// <summary>
/// Where the storage account is. In Azure: service URIs reached with <c>DefaultAzureCredential</c>
/// (managed identity, <c>AZURE_CLIENT_ID</c>); locally: a connection string (Azurite).
/// Bound from the <c>Storage</c> configuration section.
/// </summary>
public sealed class StorageOptions
{
    public const string Section = "Storage";

    public string? ConnectionString { get; set; }
    public Uri? BlobServiceUri { get; set; }
    public Uri? TableServiceUri { get; set; }

    /// <summary>Client id of a user-assigned managed identity (falls back to <c>AZURE_CLIENT_ID</c>).</summary>
    public string? ClientId { get; set; }

    public StorageResilienceOptions Resilience { get; set; } = new();

    /// <summary>
    /// Runs on the blob and table clients' options before the clients are built; not bound from configuration.
    /// For instrumentation: the scale benchmark and tests add a pipeline policy that counts table operations.
    /// </summary>
    public Action<Azure.Core.ClientOptions>? ConfigureClients { get; set; }
}
