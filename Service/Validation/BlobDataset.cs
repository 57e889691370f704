using Azure;
using ConvNeXt.Batch.Service.Contracts;
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

    /// <summary>The images in name order with their class index; images without a label are an error.</summary>
    public async Task<IReadOnlyList<LabelledBlob>> ListAsync(string container, string? prefix, string labelSource, ClassLabels classes,
        CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(labelSource);
        var names = await ListImageNamesAsync(container, prefix, cancellationToken);
        if (names.Count == 0)
            throw new DatasetException($"no images under '{container}/{prefix}'");
        var result = new List<LabelledBlob>(names.Count);
        var unlabelled = new List<string>();
        if (string.Equals(labelSource, NamesSource, StringComparison.OrdinalIgnoreCase) ||
            string.Equals(labelSource, FoldersSource, StringComparison.OrdinalIgnoreCase))
        {
            var byFolder = string.Equals(labelSource, FoldersSource, StringComparison.OrdinalIgnoreCase);
            foreach (var name in names)
            {
                var index = -1;
                var labelled = byFolder
                    ? FolderWnid(name, prefix) is { } wnid && classes.TryGetIndex(wnid, out index)
                    : LabelledDataset.TryLabelFromWnidPrefix(name, classes, out index);
                if (labelled)
                    result.Add(new LabelledBlob(name, index));
                else
                    unlabelled.Add(name);
            }
        }
        else
        {
            var list = await ReadLabelListAsync(container, labelSource, classes.Count, cancellationToken);
            foreach (var name in names)
            {
                if (list.TryGetValue(LabelledDataset.StripExtension(name), out var index))
                    result.Add(new LabelledBlob(name, index));
                else
                    unlabelled.Add(name);
            }
        }
        if (unlabelled.Count > 0)
            throw new DatasetException($"{unlabelled.Count} image(s) have no label from '{labelSource}', e.g. '{unlabelled[0]}'");
        return result;
    }

    private async Task<List<string>> ListImageNamesAsync(string container, string? prefix, CancellationToken cancellationToken)
    {
        var client = storage.Container(container);
        return await storage.Resilience.ExecuteAsync(async ct =>
        {
            var names = new List<string>();
            try
            {
                await foreach (var item in client.GetBlobsAsync(new Azure.Storage.Blobs.Models.GetBlobsOptions { Prefix = string.IsNullOrEmpty(prefix) ? null : prefix }, ct))
                    if (LabelledDataset.IsImageFile(item.Name))
                        names.Add(item.Name);
            }
            catch (RequestFailedException e) when (e.Status == 404)
            {
                throw new DatasetException($"container '{container}' does not exist");
            }
            names.Sort(StringComparer.Ordinal);
            return names;
        }, cancellationToken);
    }

    private async Task<IReadOnlyDictionary<string, int>> ReadLabelListAsync(string datasetContainer, string labelPath, int classCount,
        CancellationToken cancellationToken)
    {
        var (container, blobName) = ResolveBlobPath(datasetContainer, labelPath);
        if (BlobNames.Problem(blobName) is { } problem)
            throw new DatasetException($"label list path: {problem}");
        var blob = storage.Container(container).GetBlobClient(blobName);
        string text;
        try
        {
            text = await storage.Resilience.ExecuteAsync(async ct => (await blob.DownloadContentAsync(ct)).Value.Content.ToString(), cancellationToken);
        }
        catch (RequestFailedException e) when (e.Status == 404)
        {
            throw new DatasetException($"label list '{container}/{blobName}' does not exist");
        }
        try
        {
            return LabelledDataset.ParseValList(text.Split('\n'), classCount);
        }
        catch (DatasetFormatException e)
        {
            // The list is blob content the caller may not be allowed to read: point at the line, never quote it.
            throw new DatasetException($"label list '{labelPath}': line {e.Line?.ToString(System.Globalization.CultureInfo.InvariantCulture) ?? "?"} " +
                                       $"is not '<file name> <class index 0..{classCount - 1}>'");
        }
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
