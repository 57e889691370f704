using System.Runtime.CompilerServices;

namespace ConvNeXt.Batch.Scoring.Pipeline;

/// <summary>Results of a <see cref="ScoringPipeline"/> in the order their inputs were read.</summary>
public static class InputOrder
{
    /// <summary>
    /// Runs the pipeline and yields each result in input order. The pipeline finishes images out of
    /// order; a result waits only for those before it still in flight, so memory stays bounded by the
    /// pipeline's capacity. Inputs with the same id (never for a folder or a container) would leave
    /// gaps: what remains is yielded in order at the end.
    /// </summary>
    /// <param name="finished">Told of every result as it finishes (before its turn comes), e.g. for progress.</param>
    public static async IAsyncEnumerable<ScoredImage> RunInInputOrderAsync(this ScoringPipeline pipeline, IAsyncEnumerable<ImageInput> inputs,
        Action<ScoredImage>? finished = null, [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        long next = 0, read = 0;
        var sequence = new Dictionary<string, long>(StringComparer.Ordinal);
        var waiting = new SortedDictionary<long, ScoredImage>();
        var numbered = inputs.Select(input =>
        {
            // A running number, not sequence.Count: finished images leave the map, and a reused number
            // would park an image until the end (the order then depended on how fast images finished).
            lock (sequence)
                sequence[input.Id] = read++;
            return input;
        });
        await foreach (var scored in pipeline.RunAsync(numbered, cancellationToken))
        {
            long position;
            lock (sequence)
                sequence.Remove(scored.Id, out position);
            waiting[position] = scored;
            while (waiting.Remove(next, out var ready))
            {
                yield return ready;
                next++;
            }
            finished?.Invoke(scored);
        }
        foreach (var ready in waiting.Values)
            yield return ready;
    }
}
