using System.Net;
using System.Net.Sockets;
using System.Text;
using Azure;
using Azure.Storage.Blobs;
using Azure.Storage.Blobs.Models;
using ConvNeXt.Batch.Service.Storage;
using Polly.Timeout;

namespace ConvNeXt.Batch.Service.Tests;

/// <summary>
/// Every class of storage failure, produced for real (a closed port, a server that never answers,
/// canned 5xx/429 answers, Azurite's own 403/404/409/412), classified by <see cref="StorageFailures"/>
/// and retried by the storage pipeline exactly when it is transient.
/// </summary>
[Collection(StorageCollection.Name)]
public class StorageFailureTests(StorageFixture fixture)
{
    private static StorageResilienceOptions FastRetries(int retries = 2, TimeSpan? attemptTimeout = null) => new()
    {
        MaxRetryAttempts = retries,
        BaseDelay = TimeSpan.FromMilliseconds(1),
        MaxDelay = TimeSpan.FromMilliseconds(5),
        AttemptTimeout = attemptTimeout ?? TimeSpan.FromSeconds(30),
    };

    private static StorageAccount AccountAt(int port, StorageResilienceOptions resilience) => new(new StorageOptions
    {
        ConnectionString = ConnectionStringAt(port),
        Resilience = resilience,
    });

    private static string ConnectionStringAt(int blobPort, string key = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==") =>
        $"DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey={key};" +
        $"BlobEndpoint=http://127.0.0.1:{blobPort}/devstoreaccount1;TableEndpoint=http://127.0.0.1:{blobPort}/devstoreaccount1;";

    /// <summary>Runs <paramref name="call"/> through the account's pipeline; returns the final exception and how many attempts were made.</summary>
    private static async Task<(Exception Error, int Attempts)> FailThroughPipelineAsync(StorageAccount account, Func<CancellationToken, Task> call)
    {
        var attempts = 0;
        var error = await Assert.ThrowsAnyAsync<Exception>(async () =>
            await account.Resilience.ExecuteAsync(async ct => { Interlocked.Increment(ref attempts); await call(ct); }));
        return (error, attempts);
    }

    [Fact]
    public async Task Connection_refused_is_transient_and_the_pipeline_retries_it()
    {
        var port = ClosedPort();
        var account = AccountAt(port, FastRetries(retries: 2));
        var blob = account.Container("images").GetBlobClient("x.jpg");

        var (error, attempts) = await FailThroughPipelineAsync(account, async ct => await blob.GetPropertiesAsync(cancellationToken: ct));
        Assert.Equal(StorageFailureKind.Transient, StorageFailures.Classify(error));
        Assert.Equal(3, attempts); // 1 + 2 retries: Polly retries connection errors
        Assert.Equal(0, Assert.IsType<RequestFailedException>(error).Status); // SDK retries are off: no AggregateException
    }

    [Fact]
    public async Task Connection_refused_after_the_SDK_own_retries_is_an_AggregateException_classified_transient()
    {
        var options = new BlobClientOptions();
        options.Retry.MaxRetries = 2;
        options.Retry.Delay = TimeSpan.FromMilliseconds(1);
        var client = new BlobServiceClient(ConnectionStringAt(ClosedPort()), options);
        var error = await Assert.ThrowsAnyAsync<Exception>(async () =>
            await client.GetBlobContainerClient("images").GetBlobClient("x.jpg").GetPropertiesAsync());
        Assert.IsType<AggregateException>(error);
        Assert.Equal(StorageFailureKind.Transient, StorageFailures.Classify(error));
    }

    [Fact]
    public async Task A_server_that_never_answers_times_out_transiently_and_is_retried()
    {
        using var silent = new CannedServer(null);
        // 1 s per attempt: long enough for a loaded machine to send the request before the attempt is given up.
        var account = AccountAt(silent.Port, FastRetries(retries: 1, attemptTimeout: TimeSpan.FromSeconds(1)));
        var blob = account.Container("images").GetBlobClient("x.jpg");

        var (error, attempts) = await FailThroughPipelineAsync(account, async ct => await blob.GetPropertiesAsync(cancellationToken: ct));
        Assert.IsType<TimeoutRejectedException>(error);
        Assert.Equal(StorageFailureKind.Transient, StorageFailures.Classify(error));
        Assert.Equal(2, attempts);
        // The server counts a request when it has read it, on its own task: give it a moment to catch up.
        for (var wait = 0; wait < 50 && silent.Requests < 2; wait++)
            await Task.Delay(100);
        Assert.Equal(2, silent.Requests);
    }

    [Theory]
    [InlineData(500, "InternalError")]
    [InlineData(503, "ServerBusy")]
    [InlineData(429, "TooManyRequests")]
    public async Task Server_errors_and_throttling_are_transient_and_retried(int status, string code)
    {
        using var server = new CannedServer(status, code);
        var account = AccountAt(server.Port, FastRetries(retries: 2));
        var blob = account.Container("images").GetBlobClient("x.jpg");

        var (error, attempts) = await FailThroughPipelineAsync(account, async ct => await blob.GetPropertiesAsync(cancellationToken: ct));
        Assert.Equal(status, Assert.IsType<RequestFailedException>(error).Status);
        Assert.Equal(StorageFailureKind.Transient, StorageFailures.Classify(error));
        Assert.Equal(3, attempts);
        Assert.Equal(3, server.Requests);
    }

    [Fact]
    public async Task Access_denied_403_is_permanent_and_not_retried()
    {
        var blobPort = new Uri(new BlobServiceClient(fixture.ConnectionString).Uri.GetLeftPart(UriPartial.Authority)).Port;
        var wrongKey = Convert.ToBase64String(new byte[64]);
        var account = new StorageAccount(new StorageOptions { ConnectionString = ConnectionStringAt(blobPort, wrongKey), Resilience = FastRetries() });
        var (error, attempts) = await FailThroughPipelineAsync(account, async ct =>
            await account.Container("images").GetPropertiesAsync(cancellationToken: ct));
        Assert.Equal(403, Assert.IsType<RequestFailedException>(error).Status);
        Assert.Equal(StorageFailureKind.Permanent, StorageFailures.Classify(error));
        Assert.Equal(1, attempts);
    }

    [Fact]
    public async Task Not_found_404_is_permanent_and_not_retried()
    {
        var account = new StorageAccount(new StorageOptions { ConnectionString = fixture.ConnectionString, Resilience = FastRetries() });
        var (error, attempts) = await FailThroughPipelineAsync(account, async ct =>
            await account.Container("images").GetBlobClient($"missing/{Guid.NewGuid():N}.jpg").GetPropertiesAsync(cancellationToken: ct));
        Assert.Equal(404, Assert.IsType<RequestFailedException>(error).Status);
        Assert.Equal(StorageFailureKind.Permanent, StorageFailures.Classify(error));
        Assert.Equal(1, attempts);
    }

    [Fact]
    public async Task Conflict_409_is_permanent_and_not_retried_except_while_a_table_or_container_is_being_deleted()
    {
        var account = new StorageAccount(new StorageOptions { ConnectionString = fixture.ConnectionString, Resilience = FastRetries() });
        var (error, attempts) = await FailThroughPipelineAsync(account, async ct => await account.Container("images").CreateAsync(cancellationToken: ct));
        Assert.Equal(409, Assert.IsType<RequestFailedException>(error).Status);
        Assert.Equal(StorageFailureKind.Permanent, StorageFailures.Classify(error));
        Assert.Equal(1, attempts);

        Assert.Equal(StorageFailureKind.Transient, StorageFailures.Classify(new RequestFailedException(409, "being deleted", "TableBeingDeleted", null)));
        Assert.Equal(StorageFailureKind.Transient, StorageFailures.Classify(new RequestFailedException(409, "being deleted", "ContainerBeingDeleted", null)));
    }

    [Fact]
    public async Task Precondition_failed_412_is_permanent_and_left_to_the_caller()
    {
        var account = new StorageAccount(new StorageOptions { ConnectionString = fixture.ConnectionString, Resilience = FastRetries() });
        var blob = account.Container("images").GetBlobClient($"conditional/{Guid.NewGuid():N}.bin");
        await blob.UploadAsync(new BinaryData([1, 2, 3]));
        var (error, attempts) = await FailThroughPipelineAsync(account, async ct =>
            await blob.UploadAsync(new BinaryData([4]), new BlobUploadOptions { Conditions = new BlobRequestConditions { IfMatch = new ETag("\"0x8D000000000000\"") } }, ct));
        Assert.Equal(412, Assert.IsType<RequestFailedException>(error).Status);
        Assert.Equal(StorageFailureKind.Permanent, StorageFailures.Classify(error));
        Assert.Equal(1, attempts);
    }

    [Fact]
    public void The_caller_cancelling_is_not_a_storage_outage()
    {
        using var cancelled = new CancellationTokenSource();
        cancelled.Cancel();
        Assert.Equal(StorageFailureKind.Permanent, StorageFailures.Classify(new OperationCanceledException(cancelled.Token), cancelled.Token));
        Assert.Equal(StorageFailureKind.Transient, StorageFailures.Classify(new TaskCanceledException("network timeout")));
        Assert.Equal(StorageFailureKind.Permanent, StorageFailures.Classify(new InvalidDataException("not an image")));
    }

    private static int ClosedPort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port; // closed again when disposed: connections are refused
    }

    /// <summary>
    /// A loopback HTTP server that answers every request with one status (or, with a null status, reads
    /// the request and never answers), for the failures Azurite cannot be made to produce.
    /// </summary>
    private sealed class CannedServer : IDisposable
    {
        private readonly TcpListener _listener = new(IPAddress.Loopback, 0);
        private readonly CancellationTokenSource _stop = new();
        private readonly List<TcpClient> _held = [];
        private int _requests;

        public CannedServer(int? status, string? errorCode = null)
        {
            _listener.Start();
            _ = Task.Run(() => ServeAsync(status, errorCode));
        }

        public int Port => ((IPEndPoint)_listener.LocalEndpoint).Port;
        public int Requests => Volatile.Read(ref _requests);

        private async Task ServeAsync(int? status, string? errorCode)
        {
            while (!_stop.IsCancellationRequested)
            {
                TcpClient client;
                try { client = await _listener.AcceptTcpClientAsync(_stop.Token); }
                catch (Exception) { return; }
                _ = Task.Run(async () =>
                {
                    var stream = client.GetStream();
                    var buffer = new byte[8192];
                    var seen = new StringBuilder();
                    try
                    {
                        while (true)
                        {
                            var n = await stream.ReadAsync(buffer, _stop.Token);
                            if (n == 0)
                                return;
                            seen.Append(Encoding.ASCII.GetString(buffer, 0, n));
                            var text = seen.ToString();
                            int end;
                            while ((end = text.IndexOf("\r\n\r\n", StringComparison.Ordinal)) >= 0)
                            {
                                Interlocked.Increment(ref _requests);
                                text = text[(end + 4)..];
                                if (status is null)
                                {
                                    lock (_held) _held.Add(client);
                                    continue;
                                }
                                var answer = $"HTTP/1.1 {status} Canned\r\nContent-Length: 0\r\nx-ms-error-code: {errorCode}\r\nx-ms-request-id: canned\r\n\r\n";
                                await stream.WriteAsync(Encoding.ASCII.GetBytes(answer), _stop.Token);
                            }
                            seen.Clear().Append(text);
                        }
                    }
                    catch (Exception) { }
                });
            }
        }

        public void Dispose()
        {
            _stop.Cancel();
            _listener.Stop();
            lock (_held)
                foreach (var c in _held)
                    c.Dispose();
        }
    }
}
