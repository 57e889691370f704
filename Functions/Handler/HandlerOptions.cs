namespace ConvNeXt.Batch.Functions.Handler;

/// <summary>Handler settings (<c>Handler</c> section).</summary>
public sealed class HandlerOptions
{
    public const string Section = "Handler";

    /// <summary>
    /// When set, HTTP functions also check the key themselves (<c>x-functions-key</c> header or <c>code</c>
    /// query), so the handler is safe when reached without the Functions host in front (local runs, tests).
    /// In Azure the host enforces <c>authLevel: function</c> and this stays unset.
    /// </summary>
    public string? FunctionKey { get; set; }

    /// <summary>
    /// Containers whose BlobCreated events are scored; unset means <c>images</c>. The default lives in
    /// <see cref="ContainersToScore"/>, not in an initializer: the configuration binder appends to an array
    /// that already has items, so <c>Handler__ScoredContainers__0=other</c> would score both.
    /// </summary>
    public string[]? ScoredContainers { get; set; }

    /// <summary>The configured containers, or <c>images</c> when none is configured.</summary>
    public IReadOnlySet<string> ContainersToScore() =>
        new HashSet<string>(ScoredContainers is { Length: > 0 } configured ? configured : [Service.Storage.ContainerNames.Images], StringComparer.Ordinal);
}
