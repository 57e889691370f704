namespace ConvNeXt.Batch.Service.Validation;

/// <summary>Dataset of scheduled runs (<c>ValidationDefaults</c> section).</summary>
public sealed class ValidationDefaultsOptions
{
    public const string Section = "ValidationDefaults";

    public string Container { get; set; } = Storage.ContainerNames.Validation;
    public string? Prefix { get; set; }
    public string? Labels { get; set; }
}
