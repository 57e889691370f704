using System.Threading.Channels;
using ConvNeXt.Batch.Api;
using ConvNeXt.Batch.Service.Contracts;
using ConvNeXt.Batch.Service.Services;
using ConvNeXt.Batch.Service.Storage;
using ConvNeXt.Batch.Service.Validation;

namespace ConvNeXt.Batch.Cli.Serving;

/// <summary>
/// The local stand-in for the <c>validation-chunks</c> Service Bus queue and the ScoreValidationChunk
/// function: chunks of runs created through the API are scored in this process, one at a time. Like
/// Service Bus, a chunk that fails for a transient reason (storage) is delivered again, up to
/// <see cref="MaxDeliveries"/> times; a chunk that cannot be used is dropped with a warning.
/// </summary>
internal sealed class ChunkQueue(ValidationRunService runs, Action<string> log) : IValidationChunkSink
{
    public const int MaxDeliveries = 5;

    private readonly Channel<ValidationChunkMessage> _chunks = Channel.CreateUnbounded<ValidationChunkMessage>();
    private int _pending;

    /// <summary>Chunks enqueued and not yet finished (scored, dropped or dead-lettered).</summary>
    public int Pending => Volatile.Read(ref _pending);

    public void Send(ValidationRunPlan plan) => Enqueue(plan.Chunks);

    public void Enqueue(IEnumerable<ValidationChunkMessage> chunks)
    {
        foreach (var chunk in chunks)
        {
            Interlocked.Increment(ref _pending);
            _chunks.Writer.TryWrite(chunk);
        }
    }

    public async Task RunAsync(CancellationToken cancellationToken)
    {
        await foreach (var chunk in _chunks.Reader.ReadAllAsync(cancellationToken))
        {
            try
            {
                await DeliverAsync(chunk, cancellationToken);
            }
            finally
            {
                Interlocked.Decrement(ref _pending);
            }
        }
    }

    private async Task DeliverAsync(ValidationChunkMessage chunk, CancellationToken cancellationToken)
    {
        for (var delivery = 1; ; delivery++)
        {
            try
            {
                var outcome = await runs.ScoreChunkAsync(chunk, $"serve-{chunk.RunId}-{chunk.ChunkIndex}-{delivery}", cancellationToken);
                log($"run {chunk.RunId} chunk {chunk.ChunkIndex}: {outcome.Scored} scored, {outcome.Failed} error rows" +
                    (outcome.Finalized ? "; run finalized" : ""));
                return;
            }
            catch (DatasetException e)
            {
                log($"warning: run {chunk.RunId} chunk {chunk.ChunkIndex} dropped: {e.Message}");
                return;
            }
            catch (Exception e) when (e is not OperationCanceledException && delivery < MaxDeliveries && (StorageFailures.IsTransient(e) || e is StorageUnavailableException))
            {
                log($"warning: run {chunk.RunId} chunk {chunk.ChunkIndex} delivery {delivery} failed ({e.Message}); retrying");
                await Task.Delay(TimeSpan.FromSeconds(delivery), cancellationToken);
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                log($"error: run {chunk.RunId} chunk {chunk.ChunkIndex} dead-lettered after {delivery} deliveries: {e.Message}");
                return;
            }
        }
    }
}
