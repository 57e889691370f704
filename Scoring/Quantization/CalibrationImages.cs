using System.Security.Cryptography;
using System.Text;
using ConvNeXt.Batch.Scoring.Preprocessing;

namespace ConvNeXt.Batch.Scoring.Quantization;

/// <summary>
/// The calibration set: the first <c>N</c> images of a folder (file names in ordinal order) that the
/// model's own preprocessing accepts, as the tensors the model will see, with a digest of the set.
/// </summary>
public sealed class CalibrationImages
{
    private CalibrationImages(IReadOnlyList<float[]> tensors, IReadOnlyList<string> files, IReadOnlyList<string> rejected, string sha256, int tensorLength)
    {
        Tensors = tensors;
        Files = files;
        Rejected = rejected;
        Sha256 = sha256;
        TensorLength = tensorLength;
    }

    /// <summary>Preprocessed CHW tensors, one per image.</summary>
    public IReadOnlyList<float[]> Tensors { get; }

    /// <summary>The files the tensors came from, in order.</summary>
    public IReadOnlyList<string> Files { get; }

    /// <summary>Files tried and not usable (not an image, corrupt), with the reason.</summary>
    public IReadOnlyList<string> Rejected { get; }

    /// <summary>SHA-256 over each used file's name and bytes, in order: the same set gives the same digest.</summary>
    public string Sha256 { get; }

    public int TensorLength { get; }

    public int Count => Tensors.Count;

    /// <summary>Reads up to <paramref name="maxImages"/> usable images from <paramref name="folder"/> (not its subfolders).</summary>
    /// <exception cref="DirectoryNotFoundException">The folder does not exist.</exception>
    public static CalibrationImages Load(string folder, PreprocessingSettings preprocessing, int maxImages)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(maxImages);
        if (!Directory.Exists(folder))
            throw new DirectoryNotFoundException($"calibration folder not found: {folder}");
        var preprocessor = new ImagePreprocessor(preprocessing);
        var tensors = new List<float[]>();
        var used = new List<string>();
        var rejected = new List<string>();
        using var digest = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        foreach (var file in Directory.EnumerateFiles(folder).Order(StringComparer.Ordinal))
        {
            if (tensors.Count == maxImages)
                break;
            var bytes = File.ReadAllBytes(file);
            var tensor = new float[preprocessor.TensorLength];
            try
            {
                preprocessor.Preprocess(bytes, tensor);
            }
            catch (ImageRejectedException e)
            {
                rejected.Add($"{Path.GetFileName(file)}: {e.Message}");
                continue;
            }
            tensors.Add(tensor);
            used.Add(file);
            digest.AppendData(Encoding.UTF8.GetBytes(Path.GetFileName(file) + "\n"));
            digest.AppendData(SHA256.HashData(bytes));
        }
        return new CalibrationImages(tensors, used, rejected, Convert.ToHexStringLower(digest.GetHashAndReset()), preprocessor.TensorLength);
    }
}
