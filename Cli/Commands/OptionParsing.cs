using System.CommandLine;
using System.CommandLine.Parsing;
using System.Globalization;

namespace ConvNeXt.Batch.Cli.Commands;

/// <summary>Parsers and validators shared by the commands; each failure becomes one parse error (exit 2).</summary>
internal static class OptionParsing
{
    public static float[]? ParseTriple(ArgumentResult result)
    {
        // System.CommandLine also calls a custom parser for an option that was not given (no tokens).
        if (result.Tokens.Count == 0)
            return null;
        var token = result.Tokens.Count == 1 ? result.Tokens[0].Value : string.Join(',', result.Tokens.Select(t => t.Value));
        var parts = token.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries);
        var values = new float[parts.Length];
        for (var i = 0; i < parts.Length; i++)
        {
            if (!float.TryParse(parts[i], NumberStyles.Float, CultureInfo.InvariantCulture, out values[i]) || !float.IsFinite(values[i]))
            {
                result.AddError($"'{token}' is not three comma-separated numbers (e.g. 0.485,0.456,0.406)");
                return null;
            }
        }
        if (values.Length != 3)
        {
            result.AddError($"'{token}' has {values.Length} values; expected three (one per channel)");
            return null;
        }
        return values;
    }

    public static void Positive(Option<int?> option)
    {
        option.Validators.Add(r =>
        {
            if (r.GetValueOrDefault<int?>() is { } v && v <= 0)
                r.AddError($"{option.Name} must be positive (got {v})");
        });
    }

    public static void Positive(Option<int> option)
    {
        option.Validators.Add(r =>
        {
            if (r.GetValueOrDefault<int>() is var v && v <= 0)
                r.AddError($"{option.Name} must be positive (got {v})");
        });
    }

    public static void ExistingFile<T>(Option<T> option)
    {
        option.Validators.Add(r =>
        {
            if (r.GetValueOrDefault<T>() is string path && !File.Exists(path))
                r.AddError($"{option.Name}: file not found: {path}");
        });
    }

    public static void ExistingFile(Argument<string> argument)
    {
        argument.Validators.Add(r =>
        {
            if (r.GetValueOrDefault<string>() is { } path && !File.Exists(path))
                r.AddError($"file not found: {path}");
        });
    }

    /// <summary>A file to write: its folder must exist and the path must be able to be a file (see <see cref="Output.OutputFile.Problem"/>).</summary>
    public static void WritableFile<T>(Option<T> option)
    {
        option.Validators.Add(r =>
        {
            var path = r.GetValueOrDefault<T>() switch
            {
                string s => s,
                FileInfo f => f.ToString(),
                _ => null,
            };
            if (path is not null && Output.OutputFile.Problem(path) is { } problem)
                r.AddError(problem);
        });
    }

    public static void Device<T>(Option<T> option)
    {
        option.Validators.Add(r =>
        {
            // The one device parser (Scoring's), so the CLI accepts exactly what the classifier does.
            if (r.GetValueOrDefault<T>() is string device && !Scoring.Inference.InferenceDevice.TryParse(device, out _))
                r.AddError($"--device must be {Scoring.Inference.InferenceDevice.Accepted} (got '{device}')");
        });
    }

    public static bool IsHex(string value) => value.All(Uri.IsHexDigit);

    public static string? Environment(string name) =>
        System.Environment.GetEnvironmentVariable(name) is { Length: > 0 } value ? value : null;
}
