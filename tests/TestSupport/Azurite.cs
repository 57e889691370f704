using ConvNeXt.Batch.Service.Local;
using Xunit;

namespace ConvNeXt.Batch.TestSupport;

/// <summary>
/// One Azurite process (Blob, Queue, Table) per test assembly, on free loopback ports, in memory: the product's
/// <see cref="AzuriteProcess"/> over the repository's install (<c>tools/azurite</c>, from <c>scripts/setup.sh</c>).
/// </summary>
public sealed class Azurite : IAsyncDisposable
{
    private readonly AzuriteProcess _process;

    private Azurite(AzuriteProcess process) => _process = process;

    /// <summary>Connection string with all three endpoints.</summary>
    public string ConnectionString => _process.ConnectionString;

    /// <summary>The emulator's process (for its memory in benchmarks).</summary>
    public int ProcessId => _process.ProcessId;

    public static string Executable => Path.Combine(Repository.Root, AzuriteInstall.RepositoryInstall);

    public static Task<Azurite> StartAsync(CancellationToken cancellationToken = default) => StartAsync(checkApiVersion: false, cancellationToken);

    /// <param name="checkApiVersion">Start it as the Azurite docs do, refusing API versions newer than its own (the SDK's).</param>
    public static async Task<Azurite> StartAsync(bool checkApiVersion, CancellationToken cancellationToken = default)
    {
        if (!File.Exists(Executable))
            throw new InvalidOperationException($"Azurite is not installed at {Executable}: run scripts/setup.sh first");
        return new Azurite(await AzuriteProcess.StartAsync(new AzuriteOptions { Executable = Executable, CheckApiVersion = checkApiVersion }, cancellationToken));
    }

    public ValueTask DisposeAsync() => _process.DisposeAsync();
}

/// <summary>
/// Azurite's blob and table services as two processes (<c>azurite-blob</c>, <c>azurite-table</c>) on free
/// loopback ports, persisted in a temporary folder, so a test can stop one endpoint (a storage outage)
/// and start it again on the same port with its data.
/// </summary>
public sealed class AzuriteServices : IAsyncDisposable
{
    private readonly string _folder = Directory.CreateTempSubdirectory("azurite-").FullName;
    private readonly int _blobPort = AzuriteProcess.FreePort();
    private readonly int _tablePort = AzuriteProcess.FreePort();
    private AzuriteProcess? _blob;
    private AzuriteProcess? _table;

    public string ConnectionString => AzuriteProcess.ConnectionStringFor(_blobPort, null, _tablePort);

    public static async Task<AzuriteServices> StartAsync()
    {
        var services = new AzuriteServices();
        await services.StartBlobAsync();
        await services.StartTableAsync();
        return services;
    }

    public async Task StartBlobAsync() =>
        _blob ??= await StartOneAsync(blobPort: _blobPort, tablePort: null, Path.Combine(_folder, "blob"));

    public async Task StartTableAsync() =>
        _table ??= await StartOneAsync(blobPort: null, tablePort: _tablePort, Path.Combine(_folder, "table"));

    /// <summary>Kills the blob service: from now on its port refuses connections.</summary>
    public async Task StopBlobAsync()
    {
        if (_blob is not null)
            await _blob.DisposeAsync();
        _blob = null;
    }

    public async Task StopTableAsync()
    {
        if (_table is not null)
            await _table.DisposeAsync();
        _table = null;
    }

    private static Task<AzuriteProcess> StartOneAsync(int? blobPort, int? tablePort, string location)
    {
        if (!File.Exists(Azurite.Executable))
            throw new InvalidOperationException($"Azurite is not installed at {Azurite.Executable}: run scripts/setup.sh first");
        return AzuriteProcess.StartAsync(new AzuriteOptions
        {
            Executable = Azurite.Executable, BlobPort = blobPort, QueuePort = null, TablePort = tablePort, Location = location,
        });
    }

    public async ValueTask DisposeAsync()
    {
        await StopBlobAsync();
        await StopTableAsync();
        try { Directory.Delete(_folder, recursive: true); } catch (IOException) { }
    }
}

/// <summary>xunit fixture: share one Azurite across the tests of a collection.</summary>
public sealed class AzuriteFixture : IAsyncLifetime
{
    private Azurite? _azurite;

    public string ConnectionString => _azurite?.ConnectionString ?? throw new InvalidOperationException("Azurite not started");

    public async Task InitializeAsync() => _azurite = await Azurite.StartAsync();

    public async Task DisposeAsync()
    {
        if (_azurite is not null)
            await _azurite.DisposeAsync();
    }
}

[CollectionDefinition(Name)]
public sealed class AzuriteCollection : ICollectionFixture<AzuriteFixture>
{
    public const string Name = "Azurite";
}
