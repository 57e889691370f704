using System.Net.Sockets;
using Azure;
using Azure.Identity;
using Polly.Timeout;

namespace ConvNeXt.Batch.Service.Storage;

/// <summary>What a storage failure means for the caller.</summary>
public enum StorageFailureKind
{
    /// <summary>The same request may succeed later (outage, throttling, timeout): retry, and if retries run out fail the invocation so it is redelivered; never record it as a row.</summary>
    Transient,

    /// <summary>The same request will get the same answer (bad name, missing blob, conflict, access denied): retrying cannot help; the caller turns it into a row, a rejection, or its own logic (412).</summary>
    Permanent,
}

/// <summary>
/// The one place that decides whether a storage exception is transient or permanent. Both the retry
/// pipeline (<see cref="StorageResilience"/>) and the services (row or failed invocation) ask it.
/// </summary>
public static class StorageFailures
{
    /// <summary>
    /// Classifies <paramref name="exception"/>. An <see cref="OperationCanceledException"/> counts as a
    /// timeout (transient) unless <paramref name="callerToken"/> was cancelled: the caller stopping is not
    /// a storage failure, and is classified permanent so nothing retries it.
    /// </summary>
    public static StorageFailureKind Classify(Exception exception, CancellationToken callerToken = default)
    {
        ArgumentNullException.ThrowIfNull(exception);
        switch (exception)
        {
            case AggregateException aggregate:
                // The SDK's own retry policy throws every attempt's failure together, newest last; the
                // newest says what storage answers now. (Our clients run with SDK retries off, but code
                // handed a default client, e.g. in a test or a tool, still sees these.)
                var inner = aggregate.Flatten().InnerExceptions;
                return inner.Count == 0 ? StorageFailureKind.Permanent : Classify(inner[^1], callerToken);
            case RequestFailedException e:
                // Status 0: no HTTP response at all (connection refused or reset, DNS): the SDK wraps the
                // transport exception. Otherwise the status decides.
                return e.Status == 0 ? StorageFailureKind.Transient : ClassifyStatus(e.Status, e.ErrorCode);
            case TimeoutRejectedException:
                return StorageFailureKind.Transient;
            case OperationCanceledException:
                return callerToken.IsCancellationRequested ? StorageFailureKind.Permanent : StorageFailureKind.Transient;
            case CredentialUnavailableException:
                // No credential is configured where the process runs: a deployment error, not an outage.
                return StorageFailureKind.Permanent;
            case AuthenticationFailedException:
                // The token endpoint (managed identity) failed to answer: an outage of the identity service.
                return StorageFailureKind.Transient;
            case HttpRequestException or SocketException or IOException:
                return StorageFailureKind.Transient;
            case Scoring.Inference.ExecutionProviderException:
                // Scoring__Device=cuda on a replica whose GPU (driver, CUDA libraries) cannot start: another
                // replica, or this one restarted, may have it. Never an error row for the images.
                return StorageFailureKind.Transient;
            default:
                return StorageFailureKind.Permanent;
        }
    }

    /// <summary>Shorthand for <see cref="Classify"/> == <see cref="StorageFailureKind.Transient"/>.</summary>
    public static bool IsTransient(Exception exception, CancellationToken callerToken = default) =>
        Classify(exception, callerToken) == StorageFailureKind.Transient;

    /// <summary>
    /// The HTTP answers, decided one by one:
    /// 408, 429 and 5xx (except 501/505, which no retry changes) are transient.
    /// 403 is permanent: the identity lacks a role or the key is wrong; retrying the same request within
    /// seconds gets the same answer, and a failed invocation would only fill the dead-letter queue. (A blob
    /// read that gets 403 becomes a <c>ReadFailed</c> row, which the next delivery or re-score retries. A
    /// validation chunk, whose rows are summed into a run, instead fails its delivery on a 403 of an image or
    /// of its plan: see <c>ValidationChunkScorer</c> and <c>RunPlan.ReadChunkAsync</c>.)
    /// 404 is permanent: the blob was deleted (a <c>BlobNotFound</c> row) or a table is missing (the table
    /// writer creates it and retries once).
    /// 409 is permanent (already exists, lease held) except <c>TableBeingDeleted</c> /
    /// <c>ContainerBeingDeleted</c>, which clear by themselves within a minute.
    /// 412 is permanent for the retry layer: resending the same conditional request gets the same 412; the
    /// caller owns optimistic concurrency (re-read, then update again).
    /// Every other 4xx is a bad request: permanent.
    /// </summary>
    public static StorageFailureKind ClassifyStatus(int status, string? errorCode = null) => status switch
    {
        408 or 429 => StorageFailureKind.Transient,
        501 or 505 => StorageFailureKind.Permanent,
        >= 500 => StorageFailureKind.Transient,
        409 when errorCode is "TableBeingDeleted" or "ContainerBeingDeleted" => StorageFailureKind.Transient,
        _ => StorageFailureKind.Permanent,
    };
}
