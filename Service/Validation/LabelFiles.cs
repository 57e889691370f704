using ConvNeXt.Batch.Scoring.Evaluation;

namespace ConvNeXt.Batch.Service.Validation;

/// <summary>
/// Tells label files apart by content, for callers given "a labels file" that may be either kind: a class
/// table (<c>LOC_synset_mapping.txt</c>, <c>synset_words.txt</c>: wnid and name per line) or a ground-truth
/// list (<c>val.txt</c>: file and class index per line; devkit ground truth: one class id per line).
/// </summary>
public static class LabelFiles
{
    /// <summary>True for a ground-truth list (val.txt or devkit), false for a class table.</summary>
    public static bool IsGroundTruth(string path)
    {
        var parts = FirstEntry(path);
        return parts is { Length: 1 } && int.TryParse(parts[0], out _) // devkit ground truth: one id per line
            || parts is { Length: 2 } && int.TryParse(parts[1], out _);
    }

    /// <summary>The dataset options that read <paramref name="groundTruth"/> (devkit ids need the map file beside them).</summary>
    public static LabelledDatasetOptions DatasetOptions(string? groundTruth)
    {
        var options = new LabelledDatasetOptions { LabelFile = groundTruth };
        if (groundTruth is null)
            return options;
        // A CSV is one entry per line to the split below, which would take it for devkit ids and ask for their map file.
        if (FirstEntry(groundTruth) is [var only] && only.Contains(',', StringComparison.Ordinal))
            throw new DatasetFormatException(
                $"label file {groundTruth} is comma-separated; expected '<file> <class index>' per line (val.txt) or one devkit class id per line (ILSVRC2012_validation_ground_truth.txt)");
        return FirstEntry(groundTruth) is { Length: 1 }
            ? options with
            {
                Layout = DatasetLayout.DevkitGroundTruth,
                DevkitMapFile = Path.Combine(Path.GetDirectoryName(Path.GetFullPath(groundTruth))!, LabelledDataset.DevkitMapFileName),
            }
            : options with { Layout = DatasetLayout.ValList };
    }

    /// <summary>The class table that ImageNet's layout keeps beside a ground-truth list (<c>LOC_synset_mapping.txt</c>), if there is one.</summary>
    public static string? ClassTableBeside(string groundTruth) =>
        Path.Combine(Path.GetDirectoryName(Path.GetFullPath(groundTruth))!, ClassTableFileName) is var beside && File.Exists(beside) ? beside : null;

    /// <summary>ImageNet's class table (wnid and names per line, in class-index order).</summary>
    public const string ClassTableFileName = "LOC_synset_mapping.txt";

    private static string[]? FirstEntry(string path) =>
        File.ReadLines(path).Select(l => l.Trim()).FirstOrDefault(l => l.Length > 0 && !l.StartsWith('#'))
            ?.Split([' ', '\t'], StringSplitOptions.RemoveEmptyEntries);
}
