using System.CommandLine;
using ConvNeXt.Batch.Service.Local;

namespace ConvNeXt.Batch.Cli.Commands;

/// <summary>
/// <c>--azurite auto|on|off</c> and <c>--azurite-data DIR</c> (<c>serve</c>, <c>demo</c>): without a configured account the
/// command uses the Azurite on the default ports when one answers there (auto), else starts its own from the install
/// <see cref="AzuriteInstall.Find"/> finds, on loopback, its data kept in a folder, stopped when the command ends. auto
/// starts it on the default ports when they are free, so that every other command reaches it without a connection string;
/// on (a private one, as tests want) takes free ports.
/// </summary>
internal sealed class LocalAzuriteOption
{
    public const string Auto = "auto";
    public const string On = "on";
    public const string Off = "off";

    /// <summary>The development storage's blob and table ports (<c>UseDevelopmentStorage=true</c>).</summary>
    internal const int DevelopmentBlobPort = 10000;
    internal const int DevelopmentQueuePort = 10001;
    internal const int DevelopmentTablePort = 10002;

    private readonly StorageConnectionOption _storage;

    public Option<string> Mode { get; } = new("--azurite")
    {
        Description = "Without a connection string: auto = use the Azurite on ports 10000/10002 if one answers, else start one (on those ports when free); on = always start a private one on free ports; off = never start one",
        DefaultValueFactory = _ => Auto,
        HelpName = "auto|on|off",
    };

    public Option<string?> Data { get; } = new("--azurite-data")
    {
        Description = "Data folder of the Azurite this command starts (its log: azurite.log there); default ~/.convnext-batch/azurite",
        HelpName = "DIR",
    };

    public LocalAzuriteOption(Command command, StorageConnectionOption storage)
    {
        _storage = storage;
        Mode.AcceptOnlyFromAmong(Auto, On, Off);
        command.Options.Add(Mode);
        command.Options.Add(Data);
    }

    /// <summary>Where a started Azurite keeps its data unless <c>--azurite-data</c> says otherwise: per user, so results outlive the command.</summary>
    public static string DefaultDataFolder =>
        Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".convnext-batch", "azurite");

    /// <summary>
    /// Starts Azurite when the command has no account configured and <c>--azurite</c> asks for one (or <c>auto</c> finds
    /// nothing on the default ports); the account is then that Azurite's (<see cref="StorageConnectionOption.Started"/>).
    /// </summary>
    /// <returns>The started Azurite, to dispose when the command ends; <c>null</c> when none was started.</returns>
    public async Task<StartedAzurite?> StartIfNeededAsync(ParseResult parse, CliConsole console, CancellationToken cancellationToken)
    {
        var mode = parse.GetValue(Mode);
        if (_storage.IsConfigured(parse))
        {
            if (mode == On)
                throw new UsageException($"--azurite on starts a private Azurite, but storage is configured by {_storage.Source(parse)}: drop one of them");
            return null;
        }
        if (mode == Off)
            return null;
        var (blob, queue, table) = mode == Auto
            ? (await AzuriteProcess.IsListeningAsync(DevelopmentBlobPort, cancellationToken), await AzuriteProcess.IsListeningAsync(DevelopmentQueuePort, cancellationToken),
                await AzuriteProcess.IsListeningAsync(DevelopmentTablePort, cancellationToken))
            : (false, false, false);
        if (blob && table)
        {
            console.Info($"storage: the Azurite already answering on 127.0.0.1:{DevelopmentBlobPort} (blob) and :{DevelopmentTablePort} (table)");
            return null;
        }

        string executable;
        try
        {
            executable = AzuriteInstall.Find() ?? throw new UsageException($"no Azurite to start and no --connection-string: {AzuriteInstall.InstallHint}");
        }
        catch (FileNotFoundException e)
        {
            throw new UsageException($"{e.Message}: {AzuriteInstall.InstallHint}");
        }
        var data = Path.GetFullPath(parse.GetValue(Data) ?? DefaultDataFolder);
        var defaultPorts = mode == Auto && !blob && !queue && !table;
        var started = await StartedAzurite.StartAsync(executable, data, defaultPorts, cancellationToken);
        _storage.Started = started.Process.ConnectionString;
        var azurite = started.Process;
        console.Info($"storage: started Azurite (pid {azurite.ProcessId}) on 127.0.0.1, blob {azurite.BlobPort}, queue {azurite.QueuePort}, table {azurite.TablePort}; "
            + $"data in {data} (log azurite.log); it stops with this command");
        console.Info(defaultPorts
            ? "  other commands reach it without --connection-string (the default ports)"
            : $"  other commands reach it with --connection-string \"{azurite.ConnectionString}\"");
        return started;
    }
}
