using ConvNeXt.Batch.Service.Local;

namespace ConvNeXt.Batch.Cli.Commands;

/// <summary>
/// The Azurite a command started over a data folder, and the lock that keeps a second command from starting another
/// over the same folder (two emulators writing one database corrupt it). Disposing stops it and releases the folder.
/// </summary>
internal sealed class StartedAzurite : IAsyncDisposable
{
    public const string LockFile = "azurite.lock";
    public const string LogFile = "azurite.log";

    private readonly FileStream _lock;

    private StartedAzurite(AzuriteProcess process, FileStream folderLock)
    {
        Process = process;
        _lock = folderLock;
    }

    public AzuriteProcess Process { get; }

    /// <param name="defaultPorts">On 10000-10002 (the development storage's), else on free ports.</param>
    public static async Task<StartedAzurite> StartAsync(string executable, string dataFolder, bool defaultPorts, CancellationToken cancellationToken)
    {
        FileStream folderLock;
        try
        {
            Directory.CreateDirectory(dataFolder);
            // FileShare.None is an exclusive lock on the file for as long as it is open, also between processes.
            folderLock = new FileStream(Path.Combine(dataFolder, LockFile), FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None);
        }
        catch (IOException e)
        {
            throw new CommandFailedException($"the Azurite data folder {dataFolder} is in use by another convnext-batch command: "
                + "stop it, or give this one --azurite-data with another folder or --connection-string", e);
        }
        catch (UnauthorizedAccessException e)
        {
            throw new CommandFailedException($"cannot use {dataFolder} as the Azurite data folder: {e.Message} (give --azurite-data DIR)", e);
        }
        try
        {
            var process = await AzuriteProcess.StartAsync(new AzuriteOptions
            {
                Executable = executable,
                Location = dataFolder,
                BlobPort = defaultPorts ? LocalAzuriteOption.DevelopmentBlobPort : 0,
                QueuePort = defaultPorts ? LocalAzuriteOption.DevelopmentQueuePort : 0,
                TablePort = defaultPorts ? LocalAzuriteOption.DevelopmentTablePort : 0,
                LogFile = Path.Combine(dataFolder, LogFile),
            }, cancellationToken);
            return new StartedAzurite(process, folderLock);
        }
        catch (Exception e) when (e is InvalidOperationException or TimeoutException)
        {
            await folderLock.DisposeAsync();
            throw new CommandFailedException($"could not start Azurite ({executable}): {e.Message} (its log: {Path.Combine(dataFolder, LogFile)})", e);
        }
        catch
        {
            await folderLock.DisposeAsync();
            throw;
        }
    }

    public async ValueTask DisposeAsync()
    {
        await Process.DisposeAsync();
        await _lock.DisposeAsync();
    }
}
