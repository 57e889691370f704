using System.Net;
using System.Net.Sockets;
using ConvNeXt.Batch.Service.Local;
using ConvNeXt.Batch.TestSupport;

namespace ConvNeXt.Batch.Cli.Tests;

/// <summary>How a start of Azurite on a taken port fails: the message the start's retry of its own chosen ports looks for.</summary>
public class AzuriteStartTests
{
    [Fact]
    public async Task A_port_the_caller_gave_that_is_taken_fails_the_start_with_azurites_address_in_use()
    {
        using var taken = new TcpListener(IPAddress.Loopback, 0);
        taken.Start();
        var port = ((IPEndPoint)taken.LocalEndpoint).Port;
        var e = await Assert.ThrowsAsync<InvalidOperationException>(() => AzuriteProcess.StartAsync(new AzuriteOptions
        {
            Executable = Azurite.Executable,
            BlobPort = port,
            QueuePort = null,
            TablePort = null,
            StartTimeout = TimeSpan.FromSeconds(90),
        }));
        Assert.StartsWith("Azurite exited with code", e.Message);
        Assert.Contains("EADDRINUSE", e.Message);
        Assert.Contains(port.ToString(System.Globalization.CultureInfo.InvariantCulture), e.Message);
    }
}
