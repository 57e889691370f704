using System.CommandLine;

namespace ConvNeXt.Batch.Cli.Commands;

/// <summary>The option a mistyped one was probably meant to be ("--modle" → "--model"), by edit distance.</summary>
internal static class OptionSuggestion
{
    /// <summary>The closest option name or alias of <paramref name="command"/> (and its ancestors' recursive ones) within 2 edits; null if none.</summary>
    public static string? Closest(string typed, Command command)
    {
        var name = typed.Split('=', 2)[0];
        var candidates = command.Options.Concat(Ancestors(command).SelectMany(c => c.Options.Where(o => o.Recursive)))
            .SelectMany(o => o.Aliases.Prepend(o.Name)).Where(n => n.StartsWith("--", StringComparison.Ordinal)).Distinct(StringComparer.Ordinal);
        return candidates.Select(c => (Name: c, Distance: Distance(name, c))).Where(c => c.Distance <= 2)
            .OrderBy(c => c.Distance).ThenBy(c => c.Name, StringComparer.Ordinal).Select(c => c.Name).FirstOrDefault();
    }

    private static IEnumerable<Command> Ancestors(Command command)
    {
        foreach (var parent in command.Parents.OfType<Command>())
        {
            yield return parent;
            foreach (var above in Ancestors(parent))
                yield return above;
        }
    }

    /// <summary>Optimal string alignment distance: insertions, deletions, substitutions and adjacent swaps ("modle").</summary>
    internal static int Distance(string a, string b)
    {
        var d = new int[a.Length + 1, b.Length + 1];
        for (var i = 0; i <= a.Length; i++)
            d[i, 0] = i;
        for (var j = 0; j <= b.Length; j++)
            d[0, j] = j;
        for (var i = 1; i <= a.Length; i++)
            for (var j = 1; j <= b.Length; j++)
            {
                var cost = a[i - 1] == b[j - 1] ? 0 : 1;
                d[i, j] = Math.Min(Math.Min(d[i - 1, j] + 1, d[i, j - 1] + 1), d[i - 1, j - 1] + cost);
                if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1])
                    d[i, j] = Math.Min(d[i, j], d[i - 2, j - 2] + 1);
            }
        return d[a.Length, b.Length];
    }
}
