using System.Runtime.CompilerServices;
using Azure;
using ConvNeXt.Batch.Service.Contracts;
using ConvNeXt.Batch.Service.Services;
using ConvNeXt.Batch.Service.Storage;
using ConvNeXt.Batch.Scoring.Evaluation;
using ConvNeXt.Batch.Scoring.Labels;

namespace ConvNeXt.Batch.Service.Validation;

/// <summary>
/// Lists the labelled images of a dataset in blob storage. Labels come from a <c>val.txt</c>-style list
/// (<c>ILSVRC2012_val_00000001.JPEG 65</c>, matched by file name), from file names
/// (<c>&lt;wnid&gt;_*.JPEG</c>) or from folders (<c>prefix/&lt;wnid&gt;/file</c>).
/// </summary>
public sealed class BlobDataset(StorageAccount storage)
{
    public const string NamesSource = "names";
    public const string FoldersSource = "folders";

    /// <summary>
    /// The images with their class index and what identifies their bytes (the listed content MD5, so the same images
    /// uploaded again are the same dataset; the ETag when storage keeps no MD5), streamed in the listing's order (the service lists by name), a page at a
    /// time; a label list is merged with the listing when its lines are in name order (<see cref="LabelList"/>). Images without a label, or none at all, are an
    /// error raised after the last item, so a caller writing as it goes must not commit before the enumeration ends.
    /// </summary>
    public async IAsyncEnumerable<(LabelledBlob Item, string? ETag)> ListAsync(string container, string? prefix, string labelSource, ClassLabels classes,
        [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(labelSource);
        var byName = string.Equals(labelSource, NamesSource, StringComparison.OrdinalIgnoreCase);
        var byFolder = string.Equals(labelSource, FoldersSource, StringComparison.OrdinalIgnoreCase);
        await using var list = byName || byFolder ? null : await OpenLabelListAsync(container, labelSource, classes.Count, cancellationToken);
        var (images, unlabelled) = (0, 0);
        string? firstUnlabelled = null;
        await using var names = ListImageNamesAsync(container, prefix, cancellationToken).GetAsyncEnumerator(cancellationToken);
        while (await names.MoveNextAsync())
        {
            var name = names.Current.Name;
            images++;
            var index = list is not null
                ? await list.LabelOfAsync(LabelledDataset.StripExtension(name), cancellationToken)
                : byFolder
                    ? FolderWnid(name, prefix) is { } wnid && classes.TryGetIndex(wnid, out var folderIndex) ? folderIndex : null
                    : LabelledDataset.TryLabelFromWnidPrefix(name, classes, out var nameIndex) ? nameIndex : null;
            if (index is { } label)
                yield return (new LabelledBlob(name, label), names.Current.ContentMd5 is { } md5 ? "md5:" + md5 : names.Current.ETag);
            else if (unlabelled++ == 0)
                firstUnlabelled = name;
        }
        if (images == 0)
            throw new DatasetException($"no images under '{container}/{prefix}'");
        if (unlabelled > 0)
            throw new DatasetException($"{unlabelled} image(s) have no label from '{labelSource}', e.g. '{firstUnlabelled}'");
    }

    private async IAsyncEnumerable<BlobReference> ListImageNamesAsync(string container, string? prefix, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        await using var blobs = BlobListing.ListAsync(storage, container, prefix, cancellationToken).GetAsyncEnumerator(cancellationToken);
        while (true)
        {
            try
            {
                if (!await blobs.MoveNextAsync())
                    yield break;
            }
            catch (RequestFailedException e) when (e.Status == 404)
            {
                throw new DatasetException($"container '{container}' does not exist");
            }
            if (LabelledDataset.IsImageFile(blobs.Current.Name))
                yield return blobs.Current;
        }
    }

    private async Task<LabelList> OpenLabelListAsync(string datasetContainer, string labelPath, int classCount, CancellationToken cancellationToken)
    {
        var (container, blobName) = ResolveBlobPath(datasetContainer, labelPath);
        if (BlobNames.Problem(blobName) is { } problem)
            throw new DatasetException($"label list path: {problem}");
        return await LabelList.OpenAsync(storage, storage.Container(container).GetBlobClient(blobName), $"{container}/{blobName}", classCount, cancellationToken: cancellationToken);
    }

    /// <summary><c>other-container/path</c> when the first segment names an existing-looking container; else a path in the dataset container.</summary>
    internal (string Container, string Blob) ResolveBlobPath(string datasetContainer, string path)
    {
        path = path.TrimStart('/');
        var slash = path.IndexOf('/');
        if (slash > 0)
        {
            var first = path[..slash];
            if (first == datasetContainer || first is ContainerNames.Validation or ContainerNames.Models or ContainerNames.Images)
                return (first, path[(slash + 1)..]);
        }
        return (datasetContainer, path);
    }

    private static string? FolderWnid(string blobName, string? prefix)
    {
        var rest = prefix is not null && blobName.StartsWith(prefix, StringComparison.Ordinal) ? blobName[prefix.Length..] : blobName;
        var parts = rest.Split('/', StringSplitOptions.RemoveEmptyEntries);
        return parts.Length >= 2 ? parts[^2] : null;
    }
}
