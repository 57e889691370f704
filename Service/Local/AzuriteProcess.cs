using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;

namespace ConvNeXt.Batch.Service.Local;

/// <summary>
/// An Azurite (blob, queue, table, or one of them) on 127.0.0.1, started the one way <c>serve</c>, <c>demo</c> and the
/// tests start it: free ports unless given, telemetry off, the SDK's API version accepted, its output in a log file,
/// and the call returns once every service accepts connections. Disposing it, or this process exiting (SIGTERM
/// included), kills its process tree.
/// </summary>
public sealed class AzuriteProcess : IAsyncDisposable
{
    /// <summary>Azurite's one account and its published key.</summary>
    public const string AccountName = "devstoreaccount1";
    public const string AccountKey = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";

    private readonly Process _process;
    private readonly AzuriteLog _log;
    private readonly EventHandler _killOnExit;

    private AzuriteProcess(Process process, AzuriteLog log, int? blobPort, int? queuePort, int? tablePort, string? location)
    {
        _process = process;
        _log = log;
        BlobPort = blobPort;
        QueuePort = queuePort;
        TablePort = tablePort;
        Location = location;
        ConnectionString = ConnectionStringFor(blobPort, queuePort, tablePort);
        // Without this a SIGTERM (or any exit that skips disposal) would leave the emulator running and holding its ports.
        _killOnExit = (_, _) => Kill();
        AppDomain.CurrentDomain.ProcessExit += _killOnExit;
    }

    /// <summary>The process the <c>azurite</c> command became (Node.js).</summary>
    public int ProcessId => _process.Id;

    public int? BlobPort { get; }
    public int? QueuePort { get; }
    public int? TablePort { get; }

    /// <summary>Its data folder; <c>null</c> when in memory.</summary>
    public string? Location { get; }

    /// <summary>The account's connection string, with an endpoint for each service it runs.</summary>
    public string ConnectionString { get; }

    /// <summary>A connection string for an Azurite on 127.0.0.1 with these service ports.</summary>
    public static string ConnectionStringFor(int? blobPort, int? queuePort, int? tablePort)
    {
        var text = $"DefaultEndpointsProtocol=http;AccountName={AccountName};AccountKey={AccountKey};";
        foreach (var (service, port) in new[] { ("Blob", blobPort), ("Queue", queuePort), ("Table", tablePort) })
            if (port is { } p)
                text += string.Create(CultureInfo.InvariantCulture, $"{service}Endpoint=http://127.0.0.1:{p}/{AccountName};");
        return text;
    }

    /// <summary>Starts Azurite and waits until each of its services accepts connections.</summary>
    /// <exception cref="InvalidOperationException">It exited while starting (its last output lines say why).</exception>
    /// <exception cref="TimeoutException">It did not listen within <see cref="AzuriteOptions.StartTimeout"/> (it is stopped).</exception>
    public static async Task<AzuriteProcess> StartAsync(AzuriteOptions options, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(options);
        // A free port is free when it is chosen, not when Azurite binds it: another process (a parallel test run) can take
        // it in between. Ports chosen here are chosen again; ports the caller gave are the caller's to fix.
        var choosesPorts = options.BlobPort is 0 || options.QueuePort is 0 || options.TablePort is 0;
        for (var attempt = 1; ; attempt++)
        {
            try
            {
                return await StartOnceAsync(options, cancellationToken);
            }
            catch (InvalidOperationException e) when (choosesPorts && attempt < 3 && e.Message.Contains("EADDRINUSE", StringComparison.Ordinal))
            {
            }
        }
    }

    private static readonly TimeSpan UnannouncedGrace = TimeSpan.FromSeconds(30);

    private static async Task<AzuriteProcess> StartOnceAsync(AzuriteOptions options, CancellationToken cancellationToken)
    {
        var blob = options.BlobPort is 0 ? FreePort() : options.BlobPort;
        var queue = options.QueuePort is 0 ? FreePort() : options.QueuePort;
        var table = options.TablePort is 0 ? FreePort() : options.TablePort;
        var services = new[] { ("blob", blob), ("queue", queue), ("table", table) }.Where(s => s.Item2 is not null).ToArray();
        if (services.Length == 0)
            throw new ArgumentException("Azurite needs at least one service port", nameof(options));
        // One service alone runs as its own command beside `azurite` (azurite-blob, azurite-table, azurite-queue).
        var executable = services.Length == 1
            ? Path.Combine(Path.GetDirectoryName(options.Executable) ?? "", "azurite-" + services[0].Item1)
            : options.Executable;
        var start = new ProcessStartInfo(executable)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        start.ArgumentList.Add("--disableTelemetry");
        if (!options.CheckApiVersion)
        {
            start.ArgumentList.Add("--skipApiVersionCheck");
            start.ArgumentList.Add("--loose");
        }
        if (options.Location is { } location)
        {
            Directory.CreateDirectory(location);
            start.ArgumentList.Add("--location");
            start.ArgumentList.Add(location);
        }
        else
        {
            start.ArgumentList.Add("--inMemoryPersistence");
        }
        foreach (var (service, port) in services)
        {
            start.ArgumentList.Add($"--{service}Host");
            start.ArgumentList.Add("127.0.0.1");
            start.ArgumentList.Add($"--{service}Port");
            start.ArgumentList.Add(port!.Value.ToString(CultureInfo.InvariantCulture));
        }

        var log = new AzuriteLog(options.LogFile);
        Process process;
        try
        {
            process = Process.Start(start) ?? throw new InvalidOperationException($"could not start {executable}");
        }
        catch (System.ComponentModel.Win32Exception e)
        {
            log.Dispose();
            throw new InvalidOperationException($"could not start {executable}: {e.Message}", e);
        }
        process.OutputDataReceived += (_, e) => log.Write(e.Data);
        process.ErrorDataReceived += (_, e) => log.Write(e.Data);
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        var azurite = new AzuriteProcess(process, log, blob, queue, table, options.Location);
        try
        {
            var deadline = DateTime.UtcNow + options.StartTimeout;
            foreach (var (_, port) in services)
            {
                // Ready when Azurite says it listens and the port answers. A port that answers while Azurite has not said so
                // may be another process's (Azurite then exits, unable to bind it: within a second, or several on a loaded
                // machine); after 30 s of answering with Azurite still running, it is taken as ready (an Azurite whose
                // wording is not known, from AZURITE_PATH).
                DateTime? answeringSince = null;
                while (true)
                {
                    var answering = await IsListeningAsync(port!.Value, cancellationToken);
                    answeringSince = answering ? answeringSince ?? DateTime.UtcNow : null;
                    if (answering && (log.HasAnnounced(port.Value) || DateTime.UtcNow - answeringSince > UnannouncedGrace))
                        break;
                    if (process.HasExited)
                        throw new InvalidOperationException($"Azurite exited with code {process.ExitCode} while starting: {log.Tail()}");
                    if (DateTime.UtcNow > deadline)
                        throw new TimeoutException($"Azurite did not listen on 127.0.0.1:{port} within {options.StartTimeout.TotalSeconds:0} s");
                    await Task.Delay(100, cancellationToken);
                }
            }
            return azurite;
        }
        catch
        {
            await azurite.DisposeAsync();
            throw;
        }
    }

    /// <summary>Kills it (its process tree) and waits for it to exit.</summary>
    public async ValueTask DisposeAsync()
    {
        AppDomain.CurrentDomain.ProcessExit -= _killOnExit;
        Kill();
        try
        {
            await _process.WaitForExitAsync();
        }
        catch (InvalidOperationException)
        {
            // Never started: nothing to wait for.
        }
        _process.Dispose();
        _log.Dispose();
    }

    /// <summary>How long Azurite gets to write its database after SIGTERM before it is killed.</summary>
    private static readonly TimeSpan StopTimeout = TimeSpan.FromSeconds(10);

    private void Kill()
    {
        try
        {
            if (_process.HasExited)
                return;
            // Azurite keeps its tables in memory and saves them on a timer and when it is asked to stop: SIGKILL alone
            // would lose the last seconds of writes. So SIGTERM first, then the whole tree if it does not go.
            if ((OperatingSystem.IsLinux() || OperatingSystem.IsMacOS()) && AskToStop() && _process.WaitForExit(StopTimeout))
                return;
            _process.Kill(entireProcessTree: true);
        }
        catch (Exception e) when (e is InvalidOperationException or System.ComponentModel.Win32Exception)
        {
            // It exited meanwhile.
        }
    }

    private const int SignalTerminate = 15;

    private bool AskToStop()
    {
        try
        {
            return Terminate(_process.Id, SignalTerminate) == 0;
        }
        catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException)
        {
            // No C library under that name here: the kill below still stops it, without its last writes.
            return false;
        }
    }

    [System.Runtime.InteropServices.DllImport("libc", EntryPoint = "kill", SetLastError = true)]
    private static extern int Terminate(int pid, int signal);

    /// <summary>A loopback port nothing listens on now.</summary>
    public static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    /// <summary>Whether something accepts TCP connections on 127.0.0.1:<paramref name="port"/>.</summary>
    public static async Task<bool> IsListeningAsync(int port, CancellationToken cancellationToken = default)
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
