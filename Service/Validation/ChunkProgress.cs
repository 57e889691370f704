using System.Numerics;

namespace ConvNeXt.Batch.Service.Validation;

/// <summary>
/// The set of a run's finished chunks as a bitmap (bit i = chunk i has its summary row), kept in the run row
/// (<see cref="Storage.ValidationRunEntity.ChunksDone"/>) so that recording a chunk and asking whether the run is
/// complete costs one read and one conditional write of that row, whatever the number of chunks.
/// </summary>
public static class ChunkProgress
{
    /// <summary>Chunks a run may have: a binary table property holds at most 64 KiB.</summary>
    public const int MaxChunks = 64 * 1024 * 8;

    public static byte[] Empty(int chunkCount) => new byte[(chunkCount + 7) / 8];

    /// <summary>Every chunk of <c>0..chunkCount-1</c> done.</summary>
    public static byte[] Full(int chunkCount)
    {
        var bits = Empty(chunkCount);
        for (var i = 0; i < chunkCount; i++)
            bits[i / 8] |= (byte)(1 << (i % 8));
        return bits;
    }

    public static bool Contains(byte[] bits, int chunkIndex) =>
        chunkIndex >= 0 && chunkIndex / 8 < bits.Length && (bits[chunkIndex / 8] & (1 << (chunkIndex % 8))) != 0;

    /// <summary>A copy with <paramref name="chunkIndex"/> set.</summary>
    public static byte[] With(byte[] bits, int chunkIndex)
    {
        var copy = (byte[])bits.Clone();
        copy[chunkIndex / 8] |= (byte)(1 << (chunkIndex % 8));
        return copy;
    }

    /// <summary>Chunks done among <c>0..chunkCount-1</c>.</summary>
    public static int Count(byte[] bits, int chunkCount)
    {
        var count = 0;
        for (var i = 0; i < bits.Length; i++)
        {
            var b = bits[i];
            if (i == chunkCount / 8)
                b &= (byte)((1 << (chunkCount % 8)) - 1);
            else if (i > chunkCount / 8)
                break;
            count += BitOperations.PopCount(b);
        }
        return count;
    }

    public static IEnumerable<int> Indexes(byte[] bits, int chunkCount) =>
        Enumerable.Range(0, Math.Min(chunkCount, bits.Length * 8)).Where(i => Contains(bits, i));
}
