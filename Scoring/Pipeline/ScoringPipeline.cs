using System.Diagnostics;
using System.Runtime.CompilerServices;
using System.Threading.Channels;
using ConvNeXt.Batch.Scoring.Inference;
using ConvNeXt.Batch.Scoring.Preprocessing;

namespace ConvNeXt.Batch.Scoring.Pipeline;

/// <summary>
/// Streams images through read → decode/preprocess → batched inference with bounded queues, so
/// memory stays flat however many inputs there are: readers fetch bytes concurrently, decode
/// workers write each image straight into a slot of a pooled batch tensor, and one inference loop
/// runs full (or timed-out) batches while the next ones fill.
/// </summary>
/// <remarks>
/// Results come out in completion order, not input order; match them by <see cref="ScoredImage.Id"/>
/// or <see cref="ScoredImage.State"/>. A failure of one input (read error, rejected image, failed
/// batch) becomes that input's error result; only cancellation or a failing input sequence ends
/// the run.
/// </remarks>
public sealed class ScoringPipeline
{
    private readonly ImageClassifier _classifier;
    private readonly ImagePreprocessor _preprocessor;

    public ScoringPipeline(ImageClassifier classifier, ScoringPipelineOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(classifier);
        options ??= new ScoringPipelineOptions();
        ArgumentOutOfRangeException.ThrowIfLessThan(options.BatchSize, 1, nameof(options.BatchSize));
        ArgumentOutOfRangeException.ThrowIfLessThan(options.DecodeWorkers, 1, nameof(options.DecodeWorkers));
        ArgumentOutOfRangeException.ThrowIfLessThan(options.ReadConcurrency, 1, nameof(options.ReadConcurrency));
        ArgumentOutOfRangeException.ThrowIfLessThan(options.Capacity, 1, nameof(options.Capacity));
        ArgumentOutOfRangeException.ThrowIfLessThan(options.BatchBuffers, 2, nameof(options.BatchBuffers));
        _classifier = classifier;
        Options = options;
        _preprocessor = new ImagePreprocessor(classifier.Preprocessing, options.Limits);
    }

    public ScoringPipelineOptions Options { get; }

    public ImageClassifier Classifier => _classifier;

    /// <summary>Running totals over every run of this pipeline (cheap to read for progress displays).</summary>
    public PipelineCounters Counters { get; } = new();

    /// <summary>Scores every input; yields exactly one <see cref="ScoredImage"/> per input, in completion order.</summary>
    public async IAsyncEnumerable<ScoredImage> RunAsync(IAsyncEnumerable<ImageInput> inputs,
        [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(inputs);
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        var run = new Run(this, cts.Token);
        var completion = run.StartAsync(inputs);
        try
        {
            await foreach (var result in run.Results.ReadAllAsync(cts.Token).ConfigureAwait(false))
                yield return result;
            await completion.ConfigureAwait(false);
        }
        finally
        {
            // The consumer may stop early: stop the workers and wait for them, so no task outlives the run.
            await cts.CancelAsync().ConfigureAwait(false);
            try { await completion.ConfigureAwait(false); } catch { /* already reported or cancelled */ }
        }
    }

    /// <summary>Convenience: score a list and collect all results.</summary>
    public async Task<IReadOnlyList<ScoredImage>> ScoreAllAsync(IEnumerable<ImageInput> inputs, CancellationToken cancellationToken = default)
    {
        var results = new List<ScoredImage>();
        await foreach (var result in RunAsync(inputs.ToAsyncEnumerable(), cancellationToken).ConfigureAwait(false))
            results.Add(result);
        return results;
    }

    private sealed record Fetched(ImageInput Input, ReadOnlyMemory<byte> Bytes, TimeSpan ReadTime, Exception? Error);

    private sealed class Batch(int capacity, int tensorLength)
    {
        public readonly float[] Data = new float[capacity * tensorLength];
        public readonly Slot[] Slots = new Slot[capacity];
        public int Claimed;
        public int Completed;
        public bool Sealed;
        public long OpenedAt;

        public void Reset()
        {
            Array.Clear(Slots);
            Claimed = Completed = 0;
            Sealed = false;
            OpenedAt = 0;
        }
    }

    private struct Slot
    {
        public ImageInput Input;
        public TimeSpan ReadTime;
        public TimeSpan PreprocessTime;
        public ImageRejectedException? Rejection;
        /// <summary>Row of this image in the compacted inference batch.</summary>
        public int Row;
        public Exception? Failure;
    }

    private sealed class Run
    {
        private readonly ScoringPipeline _owner;
        private readonly ScoringPipelineOptions _options;
        private readonly CancellationToken _ct;
        private readonly Channel<Fetched> _fetched;
        private readonly Channel<Batch> _pool;
        private readonly Channel<Batch> _ready;
        private readonly Channel<ScoredImage> _results;
        private readonly SemaphoreSlim _gate = new(1, 1);
        private readonly int _tensorLength;
        private Batch? _open;

        public Run(ScoringPipeline owner, CancellationToken ct)
        {
            _owner = owner;
            _options = owner.Options;
            _ct = ct;
            _tensorLength = owner._classifier.TensorLength;
            _fetched = Channel.CreateBounded<Fetched>(new BoundedChannelOptions(_options.Capacity) { SingleReader = false });
            _results = Channel.CreateBounded<ScoredImage>(new BoundedChannelOptions(_options.Capacity) { SingleReader = true });
            _ready = Channel.CreateUnbounded<Batch>(new UnboundedChannelOptions { SingleReader = true });
            _pool = Channel.CreateUnbounded<Batch>();
            for (var i = 0; i < _options.BatchBuffers; i++)
                _pool.Writer.TryWrite(new Batch(_options.BatchSize, _tensorLength));
        }

        public ChannelReader<ScoredImage> Results => _results.Reader;

        public Task StartAsync(IAsyncEnumerable<ImageInput> inputs)
        {
            var reading = Task.Run(() => ReadAllAsync(inputs));
            var decoding = Enumerable.Range(0, _options.DecodeWorkers).Select(_ => Task.Run(DecodeLoopAsync)).ToArray();
            var sealing = Task.Run(async () =>
            {
                try
                {
                    await Task.WhenAll(decoding).ConfigureAwait(false);
                    await SealOpenAsync(force: true).ConfigureAwait(false);
                }
                finally
                {
                    _ready.Writer.TryComplete();
                }
            });
            var timer = Task.Run(TimerLoopAsync);
            var inference = Task.Run(InferenceLoopAsync);
            return Task.WhenAll(reading, sealing, inference).ContinueWith(async t =>
            {
                // Errors are reported through the results channel; the timer ends with the run.
                _results.Writer.TryComplete(t.Exception?.GetBaseException() is { } e && e is not OperationCanceledException ? e : null);
                try { await timer.ConfigureAwait(false); } catch (OperationCanceledException) { }
                if (t.Exception is not null)
                    throw t.Exception.GetBaseException();
                _ct.ThrowIfCancellationRequested();
            }, CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default).Unwrap();
        }

        private async Task ReadAllAsync(IAsyncEnumerable<ImageInput> inputs)
        {
            try
            {
                await Parallel.ForEachAsync(inputs,
                    new ParallelOptions { MaxDegreeOfParallelism = _options.ReadConcurrency, CancellationToken = _ct },
                    async (input, ct) =>
                    {
                        var started = Stopwatch.GetTimestamp();
                        Fetched fetched;
                        try
                        {
                            var bytes = await input.ReadAsync(ct).ConfigureAwait(false);
                            fetched = new Fetched(input, bytes, Stopwatch.GetElapsedTime(started), null);
                        }
                        catch (Exception e) when (e is not OperationCanceledException || !ct.IsCancellationRequested)
                        {
                            fetched = new Fetched(input, default, Stopwatch.GetElapsedTime(started), e);
                        }
                        _owner.Counters.AddRead();
                        await _fetched.Writer.WriteAsync(fetched, ct).ConfigureAwait(false);
                    }).ConfigureAwait(false);
            }
            finally
            {
                _fetched.Writer.TryComplete();
            }
        }

        private async Task DecodeLoopAsync()
        {
            await foreach (var item in _fetched.Reader.ReadAllAsync(_ct).ConfigureAwait(false))
            {
                if (item.Error is not null)
                {
                    await EmitAsync(new ScoredImage(item.Input.Id, null, $"could not read the image: {item.Error.Message}")
                    {
                        ErrorReason = FailureReason.ReadFailed, Label = item.Input.Label, State = item.Input.State, ReadTime = item.ReadTime,
                    }).ConfigureAwait(false);
                    continue;
                }
                var (batch, index) = await ClaimAsync().ConfigureAwait(false);
                ref var slot = ref batch.Slots[index];
                slot.Input = item.Input;
                slot.ReadTime = item.ReadTime;
                var started = Stopwatch.GetTimestamp();
                using var span = _options.ImageSpans ? _options.Tracing?.StartActivity("decode") : null;
                try
                {
                    _owner._preprocessor.Preprocess(item.Bytes.Span, batch.Data.AsSpan(index * _tensorLength, _tensorLength));
                }
                catch (ImageRejectedException e)
                {
                    slot.Rejection = e;
                }
                catch (Exception e)
                {
                    slot.Failure = e;
                }
                slot.PreprocessTime = Stopwatch.GetElapsedTime(started);
                Complete(batch);
            }
        }

        private async ValueTask<(Batch Batch, int Index)> ClaimAsync()
        {
            await _gate.WaitAsync(_ct).ConfigureAwait(false);
            try
            {
                if (_open is null)
                {
                    var batch = await _pool.Reader.ReadAsync(_ct).ConfigureAwait(false);
                    batch.Reset();
                    batch.OpenedAt = Stopwatch.GetTimestamp();
                    _open = batch;
                }
                var open = _open;
                int index;
                lock (open)
                {
                    index = open.Claimed++;
                    if (open.Claimed == _options.BatchSize)
                    {
                        open.Sealed = true;
                        _open = null;
                    }
                }
                return (open, index);
            }
            finally
            {
                _gate.Release();
            }
        }

        private void Complete(Batch batch)
        {
            bool dispatch;
            lock (batch)
            {
                batch.Completed++;
                dispatch = batch.Sealed && batch.Completed == batch.Claimed;
            }
            if (dispatch)
                _ready.Writer.TryWrite(batch);
        }

        private async Task SealOpenAsync(bool force)
        {
            await _gate.WaitAsync(force ? CancellationToken.None : _ct).ConfigureAwait(false);
            try
            {
                if (_open is not { } open)
                    return;
                bool dispatch;
                lock (open)
                {
                    if (!force && Stopwatch.GetElapsedTime(open.OpenedAt) < _options.MaxWait)
                        return;
                    open.Sealed = true;
                    _open = null;
                    dispatch = open.Completed == open.Claimed;
                }
                if (dispatch)
                    _ready.Writer.TryWrite(open);
            }
            finally
            {
                _gate.Release();
            }
        }

        private async Task TimerLoopAsync()
        {
            var tick = TimeSpan.FromMilliseconds(Math.Clamp(_options.MaxWait.TotalMilliseconds / 4, 1, 100));
            while (!_ready.Reader.Completion.IsCompleted && !_ct.IsCancellationRequested)
            {
                await Task.Delay(tick, _ct).ConfigureAwait(false);
                await SealOpenAsync(force: false).ConfigureAwait(false);
            }
        }

        private async Task InferenceLoopAsync()
        {
            var classifier = _owner._classifier;
            var probabilities = new float[_options.BatchSize * classifier.ClassCount];
            await foreach (var batch in _ready.Reader.ReadAllAsync(_ct).ConfigureAwait(false))
            {
                var count = batch.Claimed;
                var good = CompactDecoded(batch, count);
                Exception? failure = null;
                var elapsed = TimeSpan.Zero;
                if (good > 0)
                {
                    var started = Stopwatch.GetTimestamp();
                    using var span = _options.Tracing?.StartActivity("infer");
                    span?.SetTag("convnext.batch.size", good);
                    try
                    {
                        classifier.Predict(batch.Data.AsSpan(0, good * _tensorLength), good, probabilities);
                    }
                    catch (Exception e) when (e is not OperationCanceledException)
                    {
                        failure = e;
                    }
                    elapsed = Stopwatch.GetElapsedTime(started);
                    _owner.Counters.AddBatch();
                }
                for (var i = 0; i < count; i++)
                {
                    var slot = batch.Slots[i];
                    ScoredImage result;
                    if (slot.Rejection is { } rejection)
                        result = new ScoredImage(slot.Input.Id, null, rejection.Message) { ErrorReason = FailureReason.Of(rejection.Reason) };
                    else if (slot.Failure is { } error)
                        result = new ScoredImage(slot.Input.Id, null, $"preprocessing failed: {error.Message}") { ErrorReason = FailureReason.Undecodable };
                    else if (failure is not null)
                        result = new ScoredImage(slot.Input.Id, null, $"inference failed: {failure.Message}") { ErrorReason = FailureReason.InferenceFailed };
                    else
                        result = new ScoredImage(slot.Input.Id,
                            classifier.TopK(probabilities.AsSpan(slot.Row * classifier.ClassCount, classifier.ClassCount), _options.TopK), null)
                        { ExecutionProvider = classifier.ExecutionProvider };
                    await EmitAsync(result with
                    {
                        Label = slot.Input.Label, State = slot.Input.State, ReadTime = slot.ReadTime,
                        PreprocessTime = slot.PreprocessTime, InferenceTime = elapsed, BatchSize = good,
                    }).ConfigureAwait(false);
                }
                batch.Reset();
                _pool.Writer.TryWrite(batch);
            }
        }

        /// <summary>
        /// Moves the tensors of decoded images to the front of the batch so rejected images cost no
        /// inference; each decoded slot learns its row. Returns how many rows there are.
        /// </summary>
        private int CompactDecoded(Batch batch, int count)
        {
            var rows = 0;
            for (var i = 0; i < count; i++)
            {
                ref var slot = ref batch.Slots[i];
                if (slot.Rejection is not null || slot.Failure is not null)
                    continue;
                if (rows != i)
                    batch.Data.AsSpan(i * _tensorLength, _tensorLength).CopyTo(batch.Data.AsSpan(rows * _tensorLength, _tensorLength));
                slot.Row = rows++;
            }
            return rows;
        }

        private ValueTask EmitAsync(ScoredImage result)
        {
            if (result.Error is null)
                _owner.Counters.AddScored();
            else
                _owner.Counters.AddFailed();
            return _results.Writer.WriteAsync(result, _ct);
        }
    }
}

/// <summary>Thread-safe running totals of a <see cref="ScoringPipeline"/>.</summary>
public sealed class PipelineCounters
{
    private long _read, _scored, _failed, _batches;

    /// <summary>Inputs whose bytes were fetched (or failed to be).</summary>
    public long Read => Interlocked.Read(ref _read);

    /// <summary>Results with a prediction.</summary>
    public long Scored => Interlocked.Read(ref _scored);

    /// <summary>Results with an error.</summary>
    public long Failed => Interlocked.Read(ref _failed);

    /// <summary>Inference calls made.</summary>
    public long Batches => Interlocked.Read(ref _batches);

    public long Completed => Scored + Failed;

    internal void AddRead() => Interlocked.Increment(ref _read);
    internal void AddScored() => Interlocked.Increment(ref _scored);
    internal void AddFailed() => Interlocked.Increment(ref _failed);
    internal void AddBatch() => Interlocked.Increment(ref _batches);
}
