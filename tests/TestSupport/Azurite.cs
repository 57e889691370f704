using Xunit;
using System.Diagnostics;
using System.Net;
using System.Net.Sockets;

namespace ConvNeXt.Batch.TestSupport;

/// <summary>
/// One Azurite process (Blob, Queue, Table) per test assembly, on free loopback ports, in memory.
/// Installed by <c>scripts/setup.sh</c> into <c>tools/azurite</c>.
/// </summary>
public sealed class Azurite : IAsyncDisposable
{
    private readonly Process _process;

    private Azurite(Process process, int blobPort, int queuePort, int tablePort)
    {
        _process = process;
        ConnectionString =
            "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;" +
            "AccountKey=Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==;" +
            $"BlobEndpoint=http://127.0.0.1:{blobPort}/devstoreaccount1;" +
            $"QueueEndpoint=http://127.0.0.1:{queuePort}/devstoreaccount1;" +
            $"TableEndpoint=http://127.0.0.1:{tablePort}/devstoreaccount1;";
    }

    /// <summary>Connection string with all three endpoints.</summary>
    public string ConnectionString { get; }

    /// <summary>The emulator's process (for its memory in benchmarks).</summary>
    public int ProcessId => _process.Id;

    public static string Executable => Path.Combine(Repository.Root, "tools", "azurite", "node_modules", ".bin", "azurite");

    public static Task<Azurite> StartAsync(CancellationToken cancellationToken = default) => StartAsync(checkApiVersion: false, cancellationToken);

    /// <param name="checkApiVersion">Start it as the Azurite docs do, refusing API versions newer than its own (the SDK's).</param>
    public static async Task<Azurite> StartAsync(bool checkApiVersion, CancellationToken cancellationToken = default)
    {
        if (!File.Exists(Executable))
            throw new InvalidOperationException($"Azurite is not installed at {Executable}: run scripts/setup.sh first");

        var (blob, queue, table) = (FreePort(), FreePort(), FreePort());
        var start = new ProcessStartInfo(Executable)
        {
            ArgumentList =
            {
                "--inMemoryPersistence", "--disableTelemetry",
                "--blobHost", "127.0.0.1", "--blobPort", blob.ToString(),
                "--queueHost", "127.0.0.1", "--queuePort", queue.ToString(),
                "--tableHost", "127.0.0.1", "--tablePort", table.ToString(),
            },
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        if (!checkApiVersion)
        {
            start.ArgumentList.Add("--skipApiVersionCheck");
            start.ArgumentList.Add("--loose");
        }
        var process = Process.Start(start) ?? throw new InvalidOperationException("could not start Azurite");
        var errors = new System.Text.StringBuilder();
        process.OutputDataReceived += (_, e) => { lock (errors) errors.AppendLine(e.Data); };
        process.ErrorDataReceived += (_, e) => { lock (errors) errors.AppendLine(e.Data); };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();

        var azurite = new Azurite(process, blob, queue, table);
        var deadline = DateTime.UtcNow.AddSeconds(120);
        foreach (var port in new[] { blob, queue, table })
        {
            while (!await IsListeningAsync(port, cancellationToken))
            {
                if (process.HasExited)
                    throw new InvalidOperationException($"Azurite exited with code {process.ExitCode}: {errors}");
                if (DateTime.UtcNow > deadline)
                {
                    await azurite.DisposeAsync();
                    throw new TimeoutException("Azurite did not start listening within 120 s");
                }
                await Task.Delay(100, cancellationToken);
            }
        }
        return azurite;
    }

    public async ValueTask DisposeAsync()
    {
        if (!_process.HasExited)
        {
            _process.Kill(entireProcessTree: true);
            await _process.WaitForExitAsync();
        }
        _process.Dispose();
    }

    internal static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    internal static async Task<bool> IsListeningAsync(int port, CancellationToken cancellationToken)
    {
        try
        {
            using var client = new TcpClient();
            await client.ConnectAsync(IPAddress.Loopback, port, cancellationToken);
            return true;
        }
        catch (SocketException)
        {
            return false;
        }
    }
}

/// <summary>
/// Azurite's blob and table services as two processes (<c>azurite-blob</c>, <c>azurite-table</c>) on free
/// loopback ports, persisted in a temporary folder, so a test can stop one endpoint (a storage outage)
/// and start it again on the same port with its data.
/// </summary>
public sealed class AzuriteServices : IAsyncDisposable
{
    private readonly string _folder = Directory.CreateTempSubdirectory("azurite-").FullName;
    private readonly int _blobPort = Azurite.FreePort();
    private readonly int _tablePort = Azurite.FreePort();
    private Process? _blob;
    private Process? _table;

    public string ConnectionString =>
        "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;" +
        "AccountKey=Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==;" +
        $"BlobEndpoint=http://127.0.0.1:{_blobPort}/devstoreaccount1;" +
        $"TableEndpoint=http://127.0.0.1:{_tablePort}/devstoreaccount1;";

    public static async Task<AzuriteServices> StartAsync()
    {
        var services = new AzuriteServices();
        await services.StartBlobAsync();
        await services.StartTableAsync();
        return services;
    }

    public async Task StartBlobAsync() =>
        _blob ??= await StartOneAsync("azurite-blob", "--blobHost", "--blobPort", _blobPort, Path.Combine(_folder, "blob"));

    public async Task StartTableAsync() =>
        _table ??= await StartOneAsync("azurite-table", "--tableHost", "--tablePort", _tablePort, Path.Combine(_folder, "table"));

    /// <summary>Kills the blob service: from now on its port refuses connections.</summary>
    public async Task StopBlobAsync()
    {
        await StopAsync(_blob);
        _blob = null;
    }

    public async Task StopTableAsync()
    {
        await StopAsync(_table);
        _table = null;
    }

    private static async Task<Process> StartOneAsync(string executable, string hostFlag, string portFlag, int port, string location)
    {
        Directory.CreateDirectory(location);
        var path = Path.Combine(Repository.Root, "tools", "azurite", "node_modules", ".bin", executable);
        if (!File.Exists(path))
            throw new InvalidOperationException($"{executable} is not installed at {path}: run scripts/setup.sh first");
        var start = new ProcessStartInfo(path)
        {
            ArgumentList = { "--disableTelemetry", "--skipApiVersionCheck", "--loose", "--location", location, hostFlag, "127.0.0.1", portFlag, port.ToString() },
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        var process = Process.Start(start) ?? throw new InvalidOperationException($"could not start {executable}");
        process.OutputDataReceived += (_, _) => { };
        process.ErrorDataReceived += (_, _) => { };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        var deadline = DateTime.UtcNow.AddSeconds(120);
        while (!await Azurite.IsListeningAsync(port, CancellationToken.None))
        {
            if (process.HasExited)
                throw new InvalidOperationException($"{executable} exited with code {process.ExitCode}");
            if (DateTime.UtcNow > deadline)
            {
                await StopAsync(process);
                throw new TimeoutException($"{executable} did not start listening within 120 s");
            }
            await Task.Delay(100);
        }
        return process;
    }

    private static async Task StopAsync(Process? process)
    {
        if (process is null)
            return;
        if (!process.HasExited)
        {
            process.Kill(entireProcessTree: true);
            await process.WaitForExitAsync();
        }
        process.Dispose();
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
