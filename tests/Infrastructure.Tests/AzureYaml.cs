namespace ConvNeXt.Batch.Infrastructure.Tests;

/// <summary>
/// Reads the block-mapping subset of YAML that azure.yaml uses (nested "key: value" lines,
/// comments, and lists of plain scalars such as <c>buildArgs</c>, as <c>key.0</c>, <c>key.1</c>) into
/// dotted paths such as <c>services.functions.docker.path</c>. No YAML package is available here;
/// anything outside that subset (list items that are mappings, flow collections) is rejected rather
/// than misread.
/// </summary>
public static class AzureYaml
{
    public static IReadOnlyDictionary<string, string> Parse(string text)
    {
        var values = new Dictionary<string, string>(StringComparer.Ordinal);
        var path = new List<(int Indent, string Key)>();
        var items = new Dictionary<string, int>(StringComparer.Ordinal);
        var number = 0;
        foreach (var raw in text.Split('\n'))
        {
            number++;
            var line = raw.TrimEnd('\r', ' ');
            var content = line.TrimStart(' ');
            if (content.Length == 0 || content.StartsWith('#'))
                continue;
            var indent = line.Length - content.Length;
            if (content.StartsWith("- ", StringComparison.Ordinal) && path.Count > 0 && !content.Contains(": ", StringComparison.Ordinal)
                && !line.Contains('\t'))
            {
                var list = string.Join('.', path.Select(p => p.Key));
                var index = items.GetValueOrDefault(list);
                items[list] = index + 1;
                values[$"{list}.{index}"] = StripComment(content[2..]).Trim().Trim('"', '\'');
                continue;
            }
            if (line.Contains('\t') || content.StartsWith('-') || content.StartsWith('{') || content.StartsWith('['))
                throw new FormatException($"azure.yaml line {number}: only nested key: value mappings and lists of plain values are supported: '{line}'");
            var colon = content.IndexOf(':');
            if (colon <= 0)
                throw new FormatException($"azure.yaml line {number}: expected 'key: value': '{line}'");
            var key = content[..colon].Trim();
            var value = StripComment(content[(colon + 1)..]).Trim().Trim('"', '\'');

            while (path.Count > 0 && path[^1].Indent >= indent)
                path.RemoveAt(path.Count - 1);
            var fullKey = string.Join('.', path.Select(p => p.Key).Append(key));
            if (value.Length == 0)
                path.Add((indent, key));
            else if (!values.TryAdd(fullKey, value))
                throw new FormatException($"azure.yaml line {number}: duplicate key {fullKey}");
        }
        return values;
    }

    private static string StripComment(string value)
    {
        var hash = value.IndexOf(" #", StringComparison.Ordinal);
        return hash < 0 ? value : value[..hash];
    }
}
