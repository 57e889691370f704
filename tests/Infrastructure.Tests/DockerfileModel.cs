using System.Text.RegularExpressions;

namespace ConvNeXt.Batch.Infrastructure.Tests;

/// <summary>
/// A Dockerfile read as Docker reads it: comment lines dropped, backslash continuations joined,
/// instructions grouped into stages (FROM ... [AS name]), global ARG defaults before the first FROM.
/// Enough to check the build's structure without a Docker daemon (there is no network here).
/// </summary>
public sealed partial class DockerfileModel
{
    public sealed record Instruction(string Keyword, string Arguments);

    public sealed record Stage(string Image, string? Name, IReadOnlyList<Instruction> Instructions)
    {
        public IEnumerable<string> Arguments(string keyword) =>
            Instructions.Where(i => i.Keyword == keyword).Select(i => i.Arguments);

        /// <summary>COPY --from=stage src dest, as (stage, source, destination).</summary>
        public IEnumerable<(string From, string Source, string Destination)> CopiesFromStages() =>
            Arguments("COPY").Select(a => CopyFrom().Match(a)).Where(m => m.Success)
                .Select(m => (m.Groups["from"].Value, m.Groups["src"].Value, m.Groups["dest"].Value));

        /// <summary>ENV key=value pairs of the stage (the multi-pair form this repository uses).</summary>
        public IReadOnlyDictionary<string, string> Environment() =>
            Arguments("ENV").SelectMany(a => EnvPair().Matches(a)).ToDictionary(m => m.Groups["key"].Value, m => m.Groups["value"].Value);

        /// <summary>ARG name[=default] of the stage.</summary>
        public IReadOnlyDictionary<string, string?> Args() => ParseArgs(Arguments("ARG"));
    }

    public IReadOnlyDictionary<string, string?> GlobalArgs { get; }
    public IReadOnlyList<Stage> Stages { get; }

    public Stage Final => Stages[^1];

    public Stage Named(string name) => Stages.Single(s => s.Name == name);

    public DockerfileModel(string text)
    {
        var instructions = new List<Instruction>();
        var pending = "";
        foreach (var raw in text.Split('\n'))
        {
            var line = raw.TrimEnd('\r');
            if (line.TrimStart().StartsWith('#'))
                continue;
            if (line.EndsWith('\\'))
            {
                pending += line[..^1] + " ";
                continue;
            }
            var full = (pending + line).Trim();
            pending = "";
            if (full.Length == 0)
                continue;
            var space = full.IndexOf(' ');
            instructions.Add(space < 0 ? new Instruction(full.ToUpperInvariant(), "") : new Instruction(full[..space].ToUpperInvariant(), full[(space + 1)..].Trim()));
        }

        GlobalArgs = ParseArgs(instructions.TakeWhile(i => i.Keyword != "FROM").Where(i => i.Keyword == "ARG").Select(i => i.Arguments));
        var stages = new List<Stage>();
        List<Instruction>? current = null;
        foreach (var instruction in instructions.SkipWhile(i => i.Keyword != "FROM"))
        {
            if (instruction.Keyword == "FROM")
            {
                var parts = instruction.Arguments.Split(' ', StringSplitOptions.RemoveEmptyEntries);
                current = [];
                var name = parts.Length >= 3 && parts[^2].Equals("AS", StringComparison.OrdinalIgnoreCase) ? parts[^1] : null;
                stages.Add(new Stage(parts[0], name, current));
                continue;
            }
            current!.Add(instruction);
        }
        Stages = stages;
    }

    /// <summary>An image reference with ${ARG} replaced by the global default.</summary>
    public string ImageOf(Stage stage) =>
        ArgReference().Replace(stage.Image, m => GlobalArgs.TryGetValue(m.Groups["name"].Value, out var value) && value is not null ? value : m.Value);

    private static Dictionary<string, string?> ParseArgs(IEnumerable<string> args) =>
        args.Select(a => a.Split('=', 2)).ToDictionary(p => p[0].Trim(), p => p.Length == 2 ? p[1].Trim() : null);

    [GeneratedRegex(@"^--from=(?<from>\S+)\s+(?<src>\S+)\s+(?<dest>\S+)$")]
    private static partial Regex CopyFrom();

    [GeneratedRegex(@"(?<key>[A-Za-z_][A-Za-z0-9_]*)=(?<value>\S+)")]
    private static partial Regex EnvPair();

    [GeneratedRegex(@"\$\{(?<name>[A-Za-z_][A-Za-z0-9_]*)\}")]
    private static partial Regex ArgReference();
}
