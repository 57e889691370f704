using Azure;
using Azure.Core;
using Azure.Data.Tables;
using Azure.Identity;
using Azure.Storage.Blobs;
using Polly;

namespace ConvNeXt.Batch.Service.Storage;

/// <summary>The blob and table clients of one storage account, and the resilience pipeline around their calls.</summary>
public sealed class StorageAccount
{
    public StorageAccount(StorageOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        if (!string.IsNullOrWhiteSpace(options.ConnectionString))
        {
            Blobs = new BlobServiceClient(options.ConnectionString, BlobOptions(options));
            Tables = new TableServiceClient(options.ConnectionString, TableOptions(options));
        }
        else if (options.BlobServiceUri is not null && options.TableServiceUri is not null)
        {
            TokenCredential credential = new DefaultAzureCredential(new DefaultAzureCredentialOptions
            {
                ManagedIdentityClientId = options.ClientId ?? Environment.GetEnvironmentVariable("AZURE_CLIENT_ID"),
            });
            Blobs = new BlobServiceClient(options.BlobServiceUri, credential, BlobOptions(options));
            Tables = new TableServiceClient(options.TableServiceUri, credential, TableOptions(options));
        }
        else
        {
            throw new InvalidOperationException(
                "storage is not configured: set Storage__ConnectionString (local) or Storage__BlobServiceUri and Storage__TableServiceUri (Azure)");
        }
        Resilience = StorageResilience.Create(options.Resilience);
    }

    // Polly (Resilience) is the one retry layer: it classifies with StorageFailures, covers whole
    // operations (a listing, a streamed download and its body), and has the per-attempt timeout. SDK
    // retries under it would multiply the attempts (6 x 4) and hide failures in AggregateExceptions.
    private static BlobClientOptions BlobOptions(StorageOptions storage)
    {
        var options = new BlobClientOptions();
        options.Retry.MaxRetries = 0;
        storage.ConfigureClients?.Invoke(options);
        return options;
    }

    private static TableClientOptions TableOptions(StorageOptions storage)
    {
        var options = new TableClientOptions();
        options.Retry.MaxRetries = 0;
        storage.ConfigureClients?.Invoke(options);
        return options;
    }

    public BlobServiceClient Blobs { get; }
    public TableServiceClient Tables { get; }

    /// <summary>Retry with jittered exponential backoff and a per-attempt timeout, for every storage call.</summary>
    public ResiliencePipeline Resilience { get; }

    public TableClient Table(string name) => Tables.GetTableClient(name);

    public BlobContainerClient Container(string name) => Blobs.GetBlobContainerClient(name);

    /// <summary>
    /// Creates the result tables if needed. Only a hint that saves a round trip per call: tables can be
    /// deleted (or the emulator restarted) while the process runs, so every table call goes through
    /// <see cref="TableCallAsync{T}"/>, which recreates a missing table, and a "table not found" resets this.
    /// </summary>
    public async Task EnsureTablesAsync(CancellationToken cancellationToken = default)
    {
        if (_tablesReady)
            return;
        foreach (var name in TableNames.All)
            await Resilience.ExecuteAsync(async ct => await Table(name).CreateIfNotExistsAsync(ct), cancellationToken);
        _tablesReady = true;
    }

    /// <summary>
    /// Runs a call on table <paramref name="tableName"/> through the retry pipeline; when storage answers
    /// that the table does not exist, creates it and runs the call once more.
    /// </summary>
    public async Task<T> TableCallAsync<T>(string tableName, Func<TableClient, CancellationToken, Task<T>> call, CancellationToken cancellationToken = default)
    {
        var table = Table(tableName);
        try
        {
            return await Resilience.ExecuteAsync(async ct => await call(table, ct), cancellationToken);
        }
        catch (RequestFailedException e) when (IsTableNotFound(e))
        {
            _tablesReady = false;
            await Resilience.ExecuteAsync(async ct => await table.CreateIfNotExistsAsync(ct), cancellationToken);
            return await Resilience.ExecuteAsync(async ct => await call(table, ct), cancellationToken);
        }
    }

    /// <summary>The table itself is missing (not a missing row): Azure and Azurite answer 404 <c>TableNotFound</c>.</summary>
    public static bool IsTableNotFound(RequestFailedException e) =>
        e.Status == 404 && string.Equals(e.ErrorCode, "TableNotFound", StringComparison.OrdinalIgnoreCase);

    private volatile bool _tablesReady;
}

public static class TableNames
{
    public const string Predictions = "Predictions";
    public const string ValidationRuns = "ValidationRuns";
    public const string ValidationChunks = "ValidationChunks";
    public const string ValidationPredictions = "ValidationPredictions";

    public static IReadOnlyList<string> All { get; } = [Predictions, ValidationRuns, ValidationChunks, ValidationPredictions];

    /// <summary>Why <paramref name="name"/> cannot name a table (Azure's rule: a letter, then letters or digits, 3–63 in all), or null.</summary>
    public static string? Problem(string name) =>
        name.Length is < 3 or > 63 || !char.IsAsciiLetter(name[0]) || !name.All(char.IsAsciiLetterOrDigit)
            ? $"'{name}' is not a valid table name: 3 to 63 letters or digits, starting with a letter"
            : null;
}

public static class ContainerNames
{
    public const string Images = "images";
    public const string Validation = "validation";
    public const string Models = "models";

    /// <summary>What a validation run keeps besides its table rows: its plan (the labelled images, chunk by chunk) and its frozen totals.</summary>
    public const string ValidationRuns = "validation-runs";
}
