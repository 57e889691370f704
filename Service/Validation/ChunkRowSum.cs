using Azure.Data.Tables;
using ConvNeXt.Batch.Scoring.Evaluation;
using ConvNeXt.Batch.Service.Storage;

namespace ConvNeXt.Batch.Service.Validation;

/// <summary>
/// A run's chunk rows summed as they are read, a page at a time: what the finalizer freezes, what a running run is
/// read as, and what the stall check needs. Holds one page and the sum (bounded by the class count), never the
/// run's chunk rows, so a 10,000-chunk run costs the reader what a 10-chunk one does. Rows whose index is outside
/// the run's chunks are not counted. Integer counts only: any order of rows gives the same sum.
/// </summary>
public sealed class ChunkRowSum
{
    private readonly bool[] _done;

    private ChunkRowSum(int chunkCount) => _done = new bool[Math.Max(0, chunkCount)];

    /// <summary>Chunks whose row is in.</summary>
    public int Done { get; private set; }

    public long Images { get; private set; }
    public long Scored { get; private set; }
    public long Errors { get; private set; }

    /// <summary>When the most recent chunk row was written; null when none is in.</summary>
    public DateTimeOffset? LastScoredAt { get; private set; }

    /// <summary>The exact sum of the rows' <c>CountsJson</c>; empty when read without counts.</summary>
    public AccuracyCounts Counts { get; } = new();

    /// <summary>Every one of the run's chunks has its row.</summary>
    public bool Complete => Done == _done.Length;

    public bool IsDone(int chunkIndex) => chunkIndex >= 0 && chunkIndex < _done.Length && _done[chunkIndex];

    /// <summary>No chunk row in (a run whose chunk table does not exist yet).</summary>
    public static ChunkRowSum None(int chunkCount) => new(chunkCount);

    /// <summary>Reads and sums the chunk rows of run <paramref name="runId"/> (chunks 0..<paramref name="chunkCount"/>-1).</summary>
    /// <param name="withCounts">
    /// False when only which chunks are done and when matters (the stall sweep, a re-created run): the rows' counts are
    /// then neither transferred nor parsed, and <see cref="Counts"/> stays empty.
    /// </param>
    /// <remarks>A storage failure repeats the whole read from a fresh sum (transient ones through the pipeline's retries).</remarks>
    public static async Task<ChunkRowSum> ReadAsync(StorageAccount storage, string runId, int chunkCount, bool withCounts = true,
        CancellationToken cancellationToken = default) =>
        await storage.Resilience.ExecuteAsync(async ct =>
        {
            var sum = new ChunkRowSum(chunkCount);
            var filter = TableClient.CreateQueryFilter($"PartitionKey eq {runId}");
            await foreach (var row in storage.Table(TableNames.ValidationChunks)
                               .QueryAsync<ValidationChunkEntity>(filter, select: withCounts ? null : WithoutCounts, cancellationToken: ct))
                sum.Add(row, withCounts);
            return sum;
        }, cancellationToken);

    private static readonly string[] WithoutCounts =
    [
        nameof(ValidationChunkEntity.ChunkIndex), nameof(ValidationChunkEntity.ImageCount), nameof(ValidationChunkEntity.ScoredCount),
        nameof(ValidationChunkEntity.ErrorCount), nameof(ValidationChunkEntity.ScoredAt),
    ];

    private void Add(ValidationChunkEntity row, bool withCounts)
    {
        // Row keys are unique per chunk index, so a chunk is counted once however often it was redelivered.
        if (row.ChunkIndex < 0 || row.ChunkIndex >= _done.Length || _done[row.ChunkIndex])
            return;
        _done[row.ChunkIndex] = true;
        Done++;
        Images += row.ImageCount;
        Scored += row.ScoredCount;
        Errors += row.ErrorCount;
        if (LastScoredAt is null || row.ScoredAt > LastScoredAt)
            LastScoredAt = row.ScoredAt;
        if (withCounts)
            Counts.MergeFrom(AccuracyCounts.FromJson(row.CountsJson));
    }
}
