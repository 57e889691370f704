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

/// <summary>Dataset of scheduled runs (<c>ValidationDefaults</c> section).</summary>
public sealed class ValidationDefaultsOptions
{
    public const string Section = "ValidationDefaults";

    public string Container { get; set; } = Storage.ContainerNames.Validation;
    public string? Prefix { get; set; }
    public string? Labels { get; set; }
    /// <summary>The model scheduled runs validate (<c>NAME@VERSION</c> or <c>NAME</c>); null = the default model.</summary>
    public string? Model { get; set; }
}

/// <summary>A dataset that cannot be used (no images, no labels, unknown label source); maps to HTTP 400.</summary>
public sealed class DatasetException(string message) : Exception(message);
