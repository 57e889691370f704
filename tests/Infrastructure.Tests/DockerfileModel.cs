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

    /// <summary>
    /// An image reference with ${ARG} (and ${ARG:-default}) replaced as Docker does before the first FROM: a
    /// --build-arg from <paramref name="buildArgs"/>, else the global default; empty or unset takes the :- default.
    /// </summary>
    public string ImageOf(Stage stage, IReadOnlyDictionary<string, string>? buildArgs = null) =>
        ArgReference().Replace(stage.Image, m =>
        {
            var name = m.Groups["name"].Value;
            var value = buildArgs is not null && buildArgs.TryGetValue(name, out var given) ? given
                : GlobalArgs.TryGetValue(name, out var global) ? global : null;
            if (string.IsNullOrEmpty(value) && m.Groups["default"].Success)
                return m.Groups["default"].Value;
            return value ?? m.Value;
        });

    /// <summary>The stages a build of the final image runs with <paramref name="buildArgs"/> (BuildKit skips the rest).</summary>
    public IReadOnlyList<Stage> StagesBuilt(IReadOnlyDictionary<string, string>? buildArgs = null)
    {
        var built = new List<Stage>();
        var pending = new Stack<Stage>([Final]);
        while (pending.TryPop(out var stage))
        {
            if (built.Contains(stage))
                continue;
            built.Add(stage);
            var from = ImageOf(stage, buildArgs);
            foreach (var dependency in Stages.Where(s => s.Name is not null && (s.Name == from || stage.CopiesFromStages().Any(c => c.From == s.Name))))
                pending.Push(dependency);
        }
        return built;
    }

    private static Dictionary<string, string?> ParseArgs(IEnumerable<string> args) =>
        args.Select(a => a.Split('=', 2)).ToDictionary(p => p[0].Trim(), p => p.Length == 2 ? p[1].Trim() : null);

    [GeneratedRegex(@"^--from=(?<from>\S+)\s+(?<src>\S+)\s+(?<dest>\S+)$")]
    private static partial Regex CopyFrom();

    [GeneratedRegex(@"(?<key>[A-Za-z_][A-Za-z0-9_]*)=(?<value>\S+)")]
    private static partial Regex EnvPair();

    [GeneratedRegex(@"\$\{(?<name>[A-Za-z_][A-Za-z0-9_]*)(:-(?<default>[^}]*))?\}")]
    private static partial Regex ArgReference();
}
