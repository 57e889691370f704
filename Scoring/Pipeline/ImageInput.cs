namespace ConvNeXt.Batch.Scoring.Pipeline;

/// <summary>
/// One image to score: an id (echoed in the result) and a way to fetch its bytes. The bytes are
/// fetched by the pipeline, concurrently and only when a worker is ready for them, so a large
/// dataset is never held in memory at once.
/// </summary>
public sealed record ImageInput(string Id, Func<CancellationToken, ValueTask<ReadOnlyMemory<byte>>> ReadAsync)
{
    /// <summary>Known class index (validation runs); echoed in the result.</summary>
    public int? Label { get; init; }

    /// <summary>Caller's object (a blob name, a table key, …); echoed in the result.</summary>
    public object? State { get; init; }

    public static ImageInput FromFile(string path, string? id = null) =>
        new(id ?? path, async ct => await File.ReadAllBytesAsync(path, ct).ConfigureAwait(false));

    public static ImageInput FromBytes(string id, ReadOnlyMemory<byte> bytes) =>
        new(id, _ => ValueTask.FromResult(bytes));
}
