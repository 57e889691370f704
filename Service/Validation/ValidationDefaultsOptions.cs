namespace ConvNeXt.Batch.Service.Validation;

/// <summary>Dataset of scheduled runs (<c>ValidationDefaults</c> section).</summary>
public sealed class ValidationDefaultsOptions
{
    public const string Section = "ValidationDefaults";

    public string Container { get; set; } = Storage.ContainerNames.Validation;
    public string? Prefix { get; set; }
    public string? Labels { get; set; }

    /// <summary>The model scheduled runs validate (<c>NAME@VERSION</c> or <c>NAME</c>); null = the default model.</summary>
    public string? Model { get; set; }

    /// <summary>
    /// Containers a run requested over HTTP may read; unset means <see cref="Container"/> only. A key holder
    /// must not be able to list the host's own containers (runs, models, dead letters) as a dataset. No array
    /// initializer: the configuration binder appends to one, so a configured list could not narrow it.
    /// </summary>
    public string[]? DatasetContainers { get; set; }

    /// <summary>The configured dataset containers, or <see cref="Container"/> when none is configured.</summary>
    public IReadOnlySet<string> AllowedContainers() =>
        new HashSet<string>(DatasetContainers is { Length: > 0 } configured ? configured : [Container], StringComparer.Ordinal);
}
