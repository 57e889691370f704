namespace ConvNeXt.Batch.Service.Local;

/// <summary>How <see cref="AzuriteProcess.StartAsync"/> starts Azurite: which install, which services on which loopback ports, where its data and output go.</summary>
public sealed class AzuriteOptions
{
    /// <summary>Path of the <c>azurite</c> command (<see cref="AzuriteInstall.Find"/>); a single service runs its sibling (<c>azurite-blob</c>, <c>azurite-table</c>).</summary>
    public required string Executable { get; init; }

    /// <summary>Blob service port: 0 picks a free one, <c>null</c> runs no blob service.</summary>
    public int? BlobPort { get; init; } = 0;

    /// <summary>Queue service port: 0 picks a free one, <c>null</c> runs no queue service.</summary>
    public int? QueuePort { get; init; } = 0;

    /// <summary>Table service port: 0 picks a free one, <c>null</c> runs no table service.</summary>
    public int? TablePort { get; init; } = 0;

    /// <summary>Folder of its data (<c>--location</c>), kept between runs; <c>null</c>: in memory, gone when it stops.</summary>
    public string? Location { get; init; }

    /// <summary>File its own output is appended to; <c>null</c>: the output is kept only for the error of a failed start.</summary>
    public string? LogFile { get; init; }

    /// <summary>
    /// Refuse storage API versions newer than its own, as Azurite does by default. Off (<c>--skipApiVersionCheck --loose</c>):
    /// the Azure SDK's newest API version is usually newer than the emulator's.
    /// </summary>
    public bool CheckApiVersion { get; init; }

    /// <summary>How long to wait for every service to accept connections.</summary>
    public TimeSpan StartTimeout { get; init; } = TimeSpan.FromSeconds(120);
}
