using System.Globalization;
using System.Text;
using ConvNeXt.Batch.Scoring.Evaluation;
using ConvNeXt.Batch.Service.Contracts;
using ConvNeXt.Batch.Service.Storage;

namespace ConvNeXt.Batch.Service.Uploads;

/// <summary>A local file and the blob name it gets.</summary>
public sealed record UploadItem(string Path, string BlobName);

/// <summary>What a folder holds for upload: the images (blob names relative to the folder) and what was left out, with why.</summary>
public sealed record UploadPlan(IReadOnlyList<UploadItem> Images, IReadOnlyList<string> SkippedNotImages);

/// <summary>
/// Puts local images into a container, the way a user's own upload (or azcopy) would, so the
/// storage-backed commands and services find them: one blob per image, named by its path below the folder.
/// </summary>
public sealed class ImageUploader(StorageAccount account, ImageUploadOptions options)
{
    private readonly ImageUploadOptions _options = options;

    /// <summary>The images below <paramref name="folder"/> (recursively; hidden files ignored), blob names under <paramref name="prefix"/>.</summary>
    public static UploadPlan Plan(string folder, string? prefix)
    {
        var root = System.IO.Path.GetFullPath(folder);
        var images = new List<UploadItem>();
        var skipped = new List<string>();
        foreach (var file in Directory.EnumerateFiles(root, "*", new EnumerationOptions { RecurseSubdirectories = true, AttributesToSkip = FileAttributes.Hidden | FileAttributes.System })
                     .Where(f => !System.IO.Path.GetFileName(f).StartsWith('.')).Order(StringComparer.Ordinal))
        {
            var relative = System.IO.Path.GetRelativePath(root, file).Replace('\\', '/');
            if (LabelledDataset.IsImageFile(file))
                images.Add(new UploadItem(file, (prefix ?? "") + relative));
            else
                skipped.Add(relative);
        }
        return new UploadPlan(images, skipped);
    }

    /// <summary>Uploads <paramref name="items"/> to <paramref name="containerName"/> (created if missing); reports each finished blob.</summary>
    public async Task<UploadResult> UploadAsync(string containerName, IReadOnlyList<UploadItem> items, IProgress<long>? progress = null,
        CancellationToken cancellationToken = default)
    {
        var container = account.Container(containerName);
        await account.Resilience.ExecuteAsync(async c => await container.CreateIfNotExistsAsync(cancellationToken: c), cancellationToken);
        long done = 0, bytes = 0;
        await Parallel.ForEachAsync(items, new ParallelOptions { MaxDegreeOfParallelism = _options.Parallelism, CancellationToken = cancellationToken },
            async (item, ct) =>
            {
                var blob = container.GetBlobClient(item.BlobName);
                await account.Resilience.ExecuteAsync(async c => await blob.UploadAsync(item.Path, overwrite: _options.Overwrite, c), ct);
                Interlocked.Add(ref bytes, new FileInfo(item.Path).Length);
                progress?.Report(Interlocked.Increment(ref done));
            });
        return new UploadResult((int)done, bytes);
    }

    /// <summary>
    /// Puts a local labelled dataset where a validation run finds it: the images under
    /// <c>&lt;container&gt;/&lt;name&gt;/</c> and their labels (as resolved locally) in a val.txt-style list
    /// <c>labels/&lt;name&gt;.txt</c>; returns the run request that points at both.
    /// </summary>
    public async Task<ValidationRunRequest> UploadLabelledAsync(LabelledDataset data, string containerName, int chunkSize,
        IProgress<long>? progress = null, CancellationToken cancellationToken = default)
    {
        var name = new DirectoryInfo(data.Root).Name;
        var items = data.Images.Select(i => new UploadItem(i.Path, $"{name}/{System.IO.Path.GetFileName(i.Path)}")).ToList();
        await UploadAsync(containerName, items, progress, cancellationToken);
        var list = new StringBuilder();
        foreach (var image in data.Images)
            list.Append(System.IO.Path.GetFileName(image.Path)).Append(' ').Append(image.Label.ToString(CultureInfo.InvariantCulture)).Append('\n');
        var labelsBlob = $"labels/{name}.txt";
        var container = account.Container(containerName);
        await account.Resilience.ExecuteAsync(async c =>
            await container.GetBlobClient(labelsBlob).UploadAsync(BinaryData.FromString(list.ToString()), overwrite: true, c), cancellationToken);
        return new ValidationRunRequest { Container = containerName, Prefix = name + "/", Labels = labelsBlob, ChunkSize = chunkSize };
    }
}
