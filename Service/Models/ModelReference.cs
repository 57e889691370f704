namespace ConvNeXt.Batch.Service.Models;

/// <summary>
/// A model of the repository: <c>NAME@VERSION</c>, or <c>NAME</c> alone for the version the alias table
/// names. Names and versions are 1–63 of <c>a-z 0-9 . _ -</c> starting with a letter or digit, so a
/// reference is a valid blob path segment and table key as it is.
/// </summary>
public sealed record ModelReference(string Name, string? Version)
{
    public const int MaxPartLength = 63;

    /// <summary>The alias row that event scoring follows (<c>model promote</c> sets it); no model may be named so.</summary>
    public const string DefaultAlias = "default";

    public bool IsExact => Version is not null;

    public override string ToString() => Version is null ? Name : $"{Name}@{Version}";

    /// <summary>Parses <c>NAME@VERSION</c> or <c>NAME</c>.</summary>
    /// <exception cref="ArgumentException">Not a model reference (the message says why).</exception>
    public static ModelReference Parse(string? text)
    {
        if (Problem(text) is { } problem)
            throw new ArgumentException(problem, nameof(text));
        var at = text!.IndexOf('@', StringComparison.Ordinal);
        return at < 0 ? new ModelReference(text, null) : new ModelReference(text[..at], text[(at + 1)..]);
    }

    public static bool TryParse(string? text, out ModelReference? reference)
    {
        reference = Problem(text) is null ? Parse(text) : null;
        return reference is not null;
    }

    /// <summary>Why <paramref name="text"/> is not a model reference, or null.</summary>
    public static string? Problem(string? text)
    {
        if (string.IsNullOrWhiteSpace(text))
            return "a model reference is NAME@VERSION (or NAME for its promoted version)";
        var parts = text.Split('@');
        if (parts.Length > 2)
            return $"'{text}' is not a model reference: one '@' between NAME and VERSION";
        if (PartProblem(parts[0], "name") is { } name)
            return $"'{text}' is not a model reference: {name}";
        if (parts[0] == DefaultAlias)
            return $"'{text}' is not a model reference: '{DefaultAlias}' is the alias of the default model, not a model name";
        return parts.Length == 2 && PartProblem(parts[1], "version") is { } version ? $"'{text}' is not a model reference: {version}" : null;
    }

    private static string? PartProblem(string part, string what) =>
        part.Length is 0 or > MaxPartLength || !char.IsAsciiLetterOrDigit(part[0]) ||
        !part.All(c => char.IsAsciiLetterLower(c) || char.IsAsciiDigit(c) || c is '.' or '_' or '-')
            ? $"the {what} must be 1 to {MaxPartLength} of a-z, 0-9, '.', '_', '-', starting with a letter or digit"
            : null;
}
