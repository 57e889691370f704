namespace ConvNeXt.Batch.Scoring.Labels;

public sealed record ClassLabel(int Index, string Wnid, string Name);

/// <summary>
/// Class index ↔ WordNet id ↔ name. For ImageNet-1k the index is the position of the WordNet id in
/// sorted order, so a table read from a file is sorted by WordNet id whatever the file's line order.
/// </summary>
public sealed class ClassLabels
{
    private readonly ClassLabel[] _labels;
    private readonly Dictionary<string, int> _byWnid;

    public ClassLabels(IEnumerable<(string Wnid, string Name)> entries, bool sortByWnid = true)
    {
        var list = entries.ToList();
        if (sortByWnid)
            list.Sort((a, b) => string.CompareOrdinal(a.Wnid, b.Wnid));
        _labels = list.Select((e, i) => new ClassLabel(i, e.Wnid, e.Name)).ToArray();
        _byWnid = new Dictionary<string, int>(StringComparer.Ordinal);
        foreach (var label in _labels)
            if (!_byWnid.TryAdd(label.Wnid, label.Index))
                throw new FormatException($"duplicate class id '{label.Wnid}' in label table");
    }

    public int Count => _labels.Length;

    public ClassLabel this[int index] => _labels[index];

    public IReadOnlyList<ClassLabel> All => _labels;

    public bool TryGetIndex(string wnid, out int index) => _byWnid.TryGetValue(wnid, out index);

    /// <summary>
    /// SHA-256 (lower-case hex) of the table as the model uses it: one <c>index\twnid\tname\n</c> line per class in index
    /// order. Two tables that name any class differently, or order them differently, have different digests.
    /// </summary>
    public string Sha256 => _sha256 ??= Digest(_labels);

    private string? _sha256;

    private static string Digest(ClassLabel[] labels)
    {
        using var hash = System.Security.Cryptography.IncrementalHash.CreateHash(System.Security.Cryptography.HashAlgorithmName.SHA256);
        foreach (var label in labels)
            hash.AppendData(System.Text.Encoding.UTF8.GetBytes(
                string.Create(System.Globalization.CultureInfo.InvariantCulture, $"{label.Index}\t{label.Wnid}\t{label.Name}\n")));
        return Convert.ToHexStringLower(hash.GetHashAndReset());
    }

    /// <summary>
    /// Reads <c>LOC_synset_mapping.txt</c> (<c>n01440764 : tench, Tinca tinca</c>) or
    /// <c>synset_words.txt</c> (<c>n01440764 tench, Tinca tinca</c>).
    /// </summary>
    public static ClassLabels Load(string path) => Parse(File.ReadLines(path), path);

    public static ClassLabels Parse(IEnumerable<string> lines, string source = "labels")
    {
        var entries = new List<(string, string)>();
        var lineNumber = 0;
        foreach (var raw in lines)
        {
            lineNumber++;
            var line = raw.Trim();
            if (line.Length == 0)
                continue;
            var space = line.IndexOf(' ');
            if (space <= 0)
                throw new FormatException($"{source}:{lineNumber}: expected '<wnid> <name>' or '<wnid> : <name>'");
            var wnid = line[..space];
            var name = line[(space + 1)..].TrimStart();
            if (name.StartsWith(':'))
                name = name[1..].TrimStart();
            entries.Add((wnid, name));
        }
        if (entries.Count == 0)
            throw new FormatException($"{source}: no labels");
        return new ClassLabels(entries);
    }

    /// <summary>One <c>wnid name</c> per line, in index order (the form stored in model metadata).</summary>
    public string Serialize() => string.Join('\n', _labels.Select(l => $"{l.Wnid} {l.Name}"));
}
