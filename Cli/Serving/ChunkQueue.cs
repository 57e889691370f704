using System.Threading.Channels;
using ConvNeXt.Batch.Api;
using ConvNeXt.Batch.Service.Contracts;
using ConvNeXt.Batch.Service.Messaging;
using ConvNeXt.Batch.Service.Services;
using ConvNeXt.Batch.Service.Validation;

namespace ConvNeXt.Batch.Cli.Serving;

/// <summary>
/// The local stand-in for the <c>validation-chunks</c> Service Bus queue and the ScoreValidationChunk
/// function: chunks of runs created through the API are scored in this process, one at a time, under the
/// handler's <see cref="RedeliveryPolicy"/>: a chunk that cannot be used is dropped with a warning; any other
/// failure is delivered again, up to <see cref="RedeliveryPolicy.MaxDeliveries"/> times, then dead-lettered.
/// </summary>
/// <param name="score">Scores one delivery of a chunk (<see cref="ValidationRunService.ScoreChunkAsync"/>).</param>
internal sealed class ChunkQueue(Func<ValidationChunkMessage, string, CancellationToken, Task<ChunkOutcome>> score, Action<string> log) : IValidationChunkSink
{
    public ChunkQueue(ValidationRunService runs, Action<string> log)
        : this(runs.ScoreChunkAsync, log)
    {
    }

    /// <summary>Longest pause between two deliveries of one chunk (the pause grows by a second per delivery).</summary>
    internal TimeSpan DelayUnit { get; init; } = TimeSpan.FromSeconds(1);

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
                var outcome = await score(chunk, $"serve-{chunk.RunId}-{chunk.ChunkIndex}-{delivery}", cancellationToken);
                log($"run {chunk.RunId} chunk {chunk.ChunkIndex}: {outcome.Scored} scored, {outcome.Failed} error rows" +
                    (outcome.Finalized ? "; run finalized" : ""));
                return;
            }
            catch (Exception e) when (e is not OperationCanceledException && RedeliveryPolicy.Classify(e) == Redelivery.Complete)
            {
                log($"warning: run {chunk.RunId} chunk {chunk.ChunkIndex} dropped: {e.Message}");
                return;
            }
            catch (Exception e) when (e is not OperationCanceledException && RedeliveryPolicy.DeliverAgain(e, delivery))
            {
                log($"warning: run {chunk.RunId} chunk {chunk.ChunkIndex} delivery {delivery} failed ({e.Message}); retrying");
                await Task.Delay(DelayUnit * delivery, cancellationToken);
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                log($"error: run {chunk.RunId} chunk {chunk.ChunkIndex} dead-lettered after {delivery} deliveries: {e.Message}");
                return;
            }
        }
    }
}
