using System.Globalization;
using ConvNeXt.Batch.Scoring.Labels;
using ConvNeXt.Batch.Scoring.Pipeline;

namespace ConvNeXt.Batch.Scoring.Evaluation;

/// <summary>How a labelled image set says which class each image is.</summary>
public enum DatasetLayout
{
    /// <summary>Detect from the files present (see <see cref="LabelledDataset.Open"/>).</summary>
    Auto,
    /// <summary><c>&lt;wnid&gt;/&lt;file&gt;</c>: one folder per class.</summary>
    ImageFolder,
    /// <summary>Flat folder + <c>val.txt</c>-style list: <c>ILSVRC2012_val_00000001.JPEG 65</c> (0-based model index).</summary>
    ValList,
    /// <summary>Flat folder + devkit <c>ILSVRC2012_validation_ground_truth.txt</c> (devkit id per line n ↔ <c>ILSVRC2012_val_0000000n</c>) + <c>map_clsloc.txt</c>.</summary>
    DevkitGroundTruth,
    /// <summary>Flat folder of files named <c>&lt;wnid&gt;_anything.JPEG</c>.</summary>
    WnidPrefixed,
}

public sealed record LabelledDatasetOptions
{
    public DatasetLayout Layout { get; init; } = DatasetLayout.Auto;

    /// <summary><c>val.txt</c>-style list or devkit ground truth; default: looked for inside the folder.</summary>
    public string? LabelFile { get; init; }

    /// <summary>Devkit <c>map_clsloc.txt</c>; default: beside the label file, then inside the folder.</summary>
    public string? DevkitMapFile { get; init; }
}

/// <summary>One image with its model class index. <see cref="Id"/> is the path relative to the dataset root, with '/'.</summary>
public sealed record LabelledImage(string Id, string Path, int Label);

/// <summary>A folder of images with known classes, resolved to ImageNet-1k model indices through the full label table.</summary>
public sealed class LabelledDataset
{
    public const string ValListFileName = "val.txt";
    public const string DevkitGroundTruthFileName = "ILSVRC2012_validation_ground_truth.txt";
    public const string DevkitMapFileName = "map_clsloc.txt";

    private static readonly HashSet<string> ImageExtensions = new(StringComparer.OrdinalIgnoreCase)
        { ".jpg", ".jpeg", ".png", ".webp", ".tif", ".tiff", ".gif", ".bmp" };

    private LabelledDataset(string root, DatasetLayout layout, IReadOnlyList<LabelledImage> images, IReadOnlyList<string> unlabelled)
    {
        Root = root;
        Layout = layout;
        Images = images;
        Unlabelled = unlabelled;
    }

    public string Root { get; }

    public DatasetLayout Layout { get; }

    /// <summary>Labelled images, ordered by id.</summary>
    public IReadOnlyList<LabelledImage> Images { get; }

    /// <summary>Image files found that the labels do not cover (not scored).</summary>
    public IReadOnlyList<string> Unlabelled { get; }

    /// <summary>Inputs for <see cref="ScoringPipeline"/>, with <see cref="ImageInput.Label"/> set and the <see cref="LabelledImage"/> as state.</summary>
    public IEnumerable<ImageInput> ToInputs() =>
        Images.Select(image => ImageInput.FromFile(image.Path, image.Id) with { Label = image.Label, State = image });

    /// <summary>
    /// Opens <paramref name="directory"/>. With <see cref="DatasetLayout.Auto"/>: an explicit label file or a
    /// <c>val.txt</c> / devkit ground truth inside the folder wins; otherwise subfolders named by WordNet ids
    /// mean ImageFolder; otherwise file names starting <c>&lt;wnid&gt;_</c> mean WnidPrefixed.
    /// </summary>
    /// <exception cref="DatasetFormatException">The layout cannot be determined or a label file is malformed.</exception>
    public static LabelledDataset Open(string directory, ClassLabels labels, LabelledDatasetOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(labels);
        options ??= new LabelledDatasetOptions();
        var root = System.IO.Path.GetFullPath(directory);
        if (!Directory.Exists(root))
            throw new DirectoryNotFoundException($"dataset folder not found: {root}");

        var layout = options.Layout == DatasetLayout.Auto ? Detect(root, labels, options) : options.Layout;
        return layout switch
        {
            DatasetLayout.ImageFolder => OpenImageFolder(root, labels),
            DatasetLayout.ValList => FromFlat(root, layout, ParseValList(File.ReadLines(RequireLabelFile(root, options, ValListFileName)), labels.Count)),
            DatasetLayout.DevkitGroundTruth => FromFlat(root, layout, ParseDevkitGroundTruth(
                File.ReadLines(RequireLabelFile(root, options, DevkitGroundTruthFileName)),
                File.ReadLines(RequireDevkitMap(root, options)), labels)),
            DatasetLayout.WnidPrefixed => OpenWnidPrefixed(root, labels),
            _ => throw new ArgumentOutOfRangeException(nameof(options), layout, "unknown layout"),
        };
    }

    /// <summary>Parses <c>ILSVRC2012_val_00000001.JPEG 65</c> lines: file name → 0-based model index.</summary>
    public static IReadOnlyDictionary<string, int> ParseValList(IEnumerable<string> lines, int classCount = 1000)
    {
        var map = new Dictionary<string, int>(StringComparer.Ordinal);
        var n = 0;
        foreach (var raw in lines)
            if (ParseValListLine(raw, ++n, classCount) is var (key, label))
                map[key] = label;
        return map;
    }

    /// <summary>One line of a <c>val.txt</c>-style list as (file name without extension, class index); null for a blank line.</summary>
    /// <exception cref="DatasetFormatException">The line is not <c>&lt;file&gt; &lt;class index&gt;</c>.</exception>
    public static (string Key, int Label)? ParseValListLine(string raw, int lineNumber, int classCount = 1000)
    {
        ArgumentNullException.ThrowIfNull(raw);
        var line = raw.Trim();
        if (line.Length == 0)
            return null;
        var parts = line.Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries);
        if (parts.Length != 2 || !int.TryParse(parts[1], NumberStyles.None, CultureInfo.InvariantCulture, out var label) || label >= classCount)
            throw new DatasetFormatException($"label list line {lineNumber}: expected '<file> <class index 0..{classCount - 1}>', got '{Truncate(line)}'", lineNumber);
        return (StripExtension(parts[0]), label);
    }

    /// <summary>
    /// Resolves the devkit's ground truth (devkit id per line; line n is <c>ILSVRC2012_val_{n:D8}</c>) through
    /// <c>map_clsloc.txt</c> (<c>n02119789 1 kit_fox</c>): devkit id → WordNet id → model index.
    /// </summary>
    public static IReadOnlyDictionary<string, int> ParseDevkitGroundTruth(IEnumerable<string> groundTruthLines,
        IEnumerable<string> mapClsLocLines, ClassLabels labels)
    {
        var devkitToIndex = new Dictionary<int, int>();
        var n = 0;
        foreach (var raw in mapClsLocLines)
        {
            n++;
            var parts = raw.Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries);
            if (parts.Length == 0)
                continue;
            if (parts.Length < 2 || !int.TryParse(parts[1], NumberStyles.None, CultureInfo.InvariantCulture, out var devkitId))
                throw new DatasetFormatException($"map_clsloc line {n}: expected '<wnid> <devkit id> <name>', got '{Truncate(raw)}'");
            if (!labels.TryGetIndex(parts[0], out var index))
                throw new DatasetFormatException($"map_clsloc line {n}: class '{parts[0]}' is not in the label table");
            devkitToIndex[devkitId] = index;
        }
        var map = new Dictionary<string, int>(StringComparer.Ordinal);
        var line = 0;
        foreach (var raw in groundTruthLines)
        {
            var text = raw.Trim();
            if (text.Length == 0)
                continue;
            line++;
            if (!int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out var devkitId) || !devkitToIndex.TryGetValue(devkitId, out var index))
                throw new DatasetFormatException($"ground truth line {line}: '{Truncate(text)}' is not a devkit id in map_clsloc.txt");
            map[string.Create(CultureInfo.InvariantCulture, $"ILSVRC2012_val_{line:D8}")] = index;
        }
        return map;
    }

    /// <summary><c>n01440764_tench.JPEG</c> → index of n01440764.</summary>
    public static bool TryLabelFromWnidPrefix(string fileName, ClassLabels labels, out int label)
    {
        label = -1;
        var name = System.IO.Path.GetFileName(fileName);
        var underscore = name.IndexOf('_');
        return underscore > 0 && labels.TryGetIndex(name[..underscore], out label);
    }

    /// <summary>Key used by label lists: the file name without directory and extension.</summary>
    public static string StripExtension(string fileName) => System.IO.Path.GetFileNameWithoutExtension(fileName);

    public static bool IsImageFile(string path) => ImageExtensions.Contains(System.IO.Path.GetExtension(path));

    private static DatasetLayout Detect(string root, ClassLabels labels, LabelledDatasetOptions options)
    {
        if (options.LabelFile is { } labelFile)
            return LooksLikeDevkitGroundTruth(labelFile) ? DatasetLayout.DevkitGroundTruth : DatasetLayout.ValList;
        if (File.Exists(System.IO.Path.Combine(root, ValListFileName)))
            return DatasetLayout.ValList;
        if (File.Exists(System.IO.Path.Combine(root, DevkitGroundTruthFileName)))
            return DatasetLayout.DevkitGroundTruth;

        var classFolders = Directory.EnumerateDirectories(root).Count(d => labels.TryGetIndex(System.IO.Path.GetFileName(d), out _));
        var flatImages = Directory.EnumerateFiles(root).Where(IsImageFile).ToList();
        var prefixed = flatImages.Count(f => TryLabelFromWnidPrefix(f, labels, out _));
        // The layout most images follow; the few that do not are left out (Unlabelled, warned about), not the whole run.
        if (classFolders > 0 && prefixed == 0)
            return DatasetLayout.ImageFolder;
        if (classFolders == 0 && prefixed > 0 && prefixed * 2 > flatImages.Count)
            return DatasetLayout.WnidPrefixed;
        throw new DatasetFormatException(
            $"cannot tell how {root} is labelled ({classFolders} class folders, {flatImages.Count} images at top level): " +
            "use <wnid>/<file> folders, <wnid>_<name> file names, or give a val.txt / devkit ground truth label file");
    }

    private static bool LooksLikeDevkitGroundTruth(string path)
    {
        foreach (var line in File.ReadLines(path))
            if (line.Trim() is { Length: > 0 } text)
            {
                if (text.Contains(',', StringComparison.Ordinal))
                    throw new DatasetFormatException(
                        $"label file {path} is comma-separated; expected '<file> <class index>' per line (val.txt) or one devkit class id per line (ILSVRC2012_validation_ground_truth.txt)");
                return int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out _);
            }
        throw new DatasetFormatException($"label file {path} is empty");
    }

    private static LabelledDataset OpenImageFolder(string root, ClassLabels labels)
    {
        var images = new List<LabelledImage>();
        var unlabelled = new List<string>();
        foreach (var folder in Directory.EnumerateDirectories(root))
        {
            var known = labels.TryGetIndex(System.IO.Path.GetFileName(folder), out var label);
            foreach (var file in Directory.EnumerateFiles(folder, "*", SearchOption.AllDirectories).Where(IsImageFile))
            {
                if (known)
                    images.Add(new LabelledImage(RelativeId(root, file), file, label));
                else
                    unlabelled.Add(RelativeId(root, file));
            }
        }
        unlabelled.AddRange(Directory.EnumerateFiles(root).Where(IsImageFile).Select(f => RelativeId(root, f)));
        return Create(root, DatasetLayout.ImageFolder, images, unlabelled);
    }

    private static LabelledDataset OpenWnidPrefixed(string root, ClassLabels labels)
    {
        var images = new List<LabelledImage>();
        var unlabelled = new List<string>();
        foreach (var file in Directory.EnumerateFiles(root).Where(IsImageFile))
        {
            if (TryLabelFromWnidPrefix(file, labels, out var label))
                images.Add(new LabelledImage(RelativeId(root, file), file, label));
            else
                unlabelled.Add(RelativeId(root, file));
        }
        return Create(root, DatasetLayout.WnidPrefixed, images, unlabelled);
    }

    private static LabelledDataset FromFlat(string root, DatasetLayout layout, IReadOnlyDictionary<string, int> labelsByName)
    {
        var images = new List<LabelledImage>();
        var unlabelled = new List<string>();
        foreach (var file in Directory.EnumerateFiles(root).Where(IsImageFile))
        {
            if (labelsByName.TryGetValue(StripExtension(file), out var label))
                images.Add(new LabelledImage(RelativeId(root, file), file, label));
            else
                unlabelled.Add(RelativeId(root, file));
        }
        return Create(root, layout, images, unlabelled);
    }

    private static LabelledDataset Create(string root, DatasetLayout layout, List<LabelledImage> images, List<string> unlabelled)
    {
        images.Sort((a, b) => string.CompareOrdinal(a.Id, b.Id));
        unlabelled.Sort(StringComparer.Ordinal);
        return new LabelledDataset(root, layout, images, unlabelled);
    }

    private static string RequireLabelFile(string root, LabelledDatasetOptions options, string defaultName)
    {
        var path = options.LabelFile ?? System.IO.Path.Combine(root, defaultName);
        return File.Exists(path) ? path : throw new DatasetFormatException($"label file not found: {path}");
    }

    private static string RequireDevkitMap(string root, LabelledDatasetOptions options)
    {
        IEnumerable<string?> candidates =
        [
            options.DevkitMapFile,
            options.LabelFile is { } l ? System.IO.Path.Combine(System.IO.Path.GetDirectoryName(System.IO.Path.GetFullPath(l))!, DevkitMapFileName) : null,
            System.IO.Path.Combine(root, DevkitMapFileName),
        ];
        return candidates.FirstOrDefault(p => p is not null && File.Exists(p))
            ?? throw new DatasetFormatException($"devkit ground truth needs {DevkitMapFileName} (devkit id → WordNet id); none found");
    }

    private static string RelativeId(string root, string file) => System.IO.Path.GetRelativePath(root, file).Replace('\\', '/');

    private static string Truncate(string text) => text.Length <= 80 ? text : text[..80] + "…";
}

/// <summary>A dataset's labels are missing, malformed or ambiguous.</summary>
/// <param name="line">The offending line (1-based) when there is one, so callers that must not echo the content can still point at it.</param>
public sealed class DatasetFormatException(string message, int? line = null) : Exception(message)
{
    public int? Line { get; } = line;
}
