namespace ConvNeXt.Batch.Service.Storage;

/// <summary>
/// Checks blob and container names that arrive in untrusted input (events, chunk messages, HTTP routes)
/// before anything is read or written with them. Storage resolves <c>.</c> and <c>..</c> segments in a
/// blob URL, so <c>images/../other/x</c> would leave the container the allow-list checked.
/// </summary>
public static class BlobNames
{
    /// <summary>Azure's limit on a blob name, in characters.</summary>
    public const int MaxLength = 1024;

    /// <summary>Null when <paramref name="name"/> is a safe blob name, else why it is not (never echoing the name).</summary>
    public static string? Problem(string? name)
    {
        if (string.IsNullOrEmpty(name))
            return "blob name is empty";
        if (name.Length > MaxLength)
            return $"blob name has {name.Length} characters, over the limit of {MaxLength}";
        foreach (var segment in name.Split('/', '\\'))
        {
            if (segment.Length == 0)
                return "blob name has an empty path segment";
            if (segment is "." or "..")
                return "blob name has a '.' or '..' path segment";
        }
        foreach (var c in name)
            if (char.IsControl(c))
                return "blob name contains a control character";
        return null;
    }

    /// <summary>
    /// Null when <paramref name="name"/> is a valid container name (3–63 characters of lower-case letters,
    /// digits and single hyphens, starting and ending with a letter or digit), else why not.
    /// </summary>
    public static string? ContainerProblem(string? name)
    {
        if (string.IsNullOrEmpty(name))
            return "container name is empty";
        if (name.Length is < 3 or > 63)
            return $"container name must have 3 to 63 characters, not {name.Length}";
        foreach (var c in name)
            if (!(c is >= 'a' and <= 'z' or >= '0' and <= '9' or '-'))
                return "container name may hold only lower-case letters, digits and hyphens";
        if (name[0] == '-' || name[^1] == '-' || name.Contains("--", StringComparison.Ordinal))
            return "container name must start and end with a letter or digit and have no double hyphens";
        return null;
    }
}
