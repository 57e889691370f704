namespace ConvNeXt.Batch.Service.Validation;

/// <summary>Validation settings (<c>Validation</c> section).</summary>
public sealed class ValidationOptions
{
    public const string Section = "Validation";

    /// <summary>Images per chunk message.</summary>
    public int ChunkSize { get; set; } = 100;

    /// <summary>
    /// A running run with no chunk finished for this long is marked <c>Failed</c> (its missing chunks were
    /// dead-lettered or never sent). Longer than the slowest chunk's scoring and redelivery.
    /// </summary>
    public TimeSpan StallTimeout { get; set; } = TimeSpan.FromHours(1);

    /// <summary>
    /// Largest total of chunk messages one run may plan, in bytes. Creating a run hands every chunk message to the
    /// Functions host in one custom-handler response, which the host reads whole. A message references its items
    /// in the run's plan and takes about 330 bytes, so 64 MiB is some 200,000 chunks (500 for ImageNet val at 100
    /// per chunk: 165 kB). A run past the limit is refused (400) before its plan is committed or its row written.
    /// </summary>
    public long MaxFanOutBytes { get; set; } = 64L * 1024 * 1024;
}
