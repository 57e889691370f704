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

    public static string Executable => Path.Combine(Repository.Root, "tools", "azurite", "node_modules", ".bin", "azurite");

    public static async Task<Azurite> StartAsync(CancellationToken cancellationToken = default)
    {
        if (!File.Exists(Executable))
            throw new InvalidOperationException($"Azurite is not installed at {Executable}: run scripts/setup.sh first");

        var (blob, queue, table) = (FreePort(), FreePort(), FreePort());
        var start = new ProcessStartInfo(Executable)
        {
            ArgumentList =
            {
                "--inMemoryPersistence", "--disableTelemetry", "--skipApiVersionCheck", "--loose",
                "--blobHost", "127.0.0.1", "--blobPort", blob.ToString(),
                "--queueHost", "127.0.0.1", "--queuePort", queue.ToString(),
                "--tableHost", "127.0.0.1", "--tablePort", table.ToString(),
            },
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        var process = Process.Start(start) ?? throw new InvalidOperationException("could not start Azurite");
        var errors = new System.Text.StringBuilder();
        process.OutputDataReceived += (_, e) => { lock (errors) errors.AppendLine(e.Data); };
        process.ErrorDataReceived += (_, e) => { lock (errors) errors.AppendLine(e.Data); };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();

        var azurite = new Azurite(process, blob, queue, table);
        var deadline = DateTime.UtcNow.AddSeconds(30);
        foreach (var port in new[] { blob, queue, table })
        {
            while (!await IsListeningAsync(port, cancellationToken))
            {
                if (process.HasExited)
                    throw new InvalidOperationException($"Azurite exited with code {process.ExitCode}: {errors}");
                if (DateTime.UtcNow > deadline)
                {
                    await azurite.DisposeAsync();
                    throw new TimeoutException("Azurite did not start listening within 30 s");
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

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    private static async Task<bool> IsListeningAsync(int port, CancellationToken cancellationToken)
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
