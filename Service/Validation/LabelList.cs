using System.Globalization;
using System.Runtime.CompilerServices;
using System.Text;
using Azure;
using Azure.Storage.Blobs;
using Azure.Storage.Blobs.Models;
using ConvNeXt.Batch.Scoring.Evaluation;
using ConvNeXt.Batch.Service.Storage;

namespace ConvNeXt.Batch.Service.Validation;

/// <summary>
/// A <c>val.txt</c>-style label list in blob storage, looked up by file name (without extension) in the listing's order.
/// It is read a range at a time. When its lines are in ordinal order of their names (ImageNet's val.txt is), it is merged
/// with the listing, which comes in name order: creating a run then holds two lines of it, not the list (50,000 lines
/// are 5.7 MB as a dictionary). A list out of order is read into a dictionary, and so is a sorted one after the listing
/// has gone back in name order three times (file names in several folders): the same labels either way, more memory.
/// Every read after the first is conditional on the blob's ETag, so one run's labels come from one version of the list.
/// </summary>
internal sealed class LabelList : IAsyncDisposable
{
    /// <summary>Bytes per ranged read.</summary>
    internal const int RangeBytes = 1 << 20;

    /// <summary>The listing going back this many times makes the list a dictionary (each time costs a read of the list).</summary>
    private const int MaxRewinds = 3;

    private readonly StorageAccount _storage;
    private readonly BlobClient _blob;
    private readonly string _path;
    private readonly int _classCount;
    private readonly ETag _etag;
    private readonly long _length;
    private Dictionary<string, int>? _map;
    private IAsyncEnumerator<(string Key, int Label)>? _lines;
    private (string Key, int Label)? _current;
    private (string Key, int Label)? _next;
    private string? _lastKey;
    private int _rewinds;

    private readonly Func<Task>? _beforeRead;

    private LabelList(StorageAccount storage, BlobClient blob, string path, int classCount, ETag etag, long length, Func<Task>? beforeRead)
    {
        (_storage, _blob, _path, _classCount, _etag, _length, _beforeRead) = (storage, blob, path, classCount, etag, length, beforeRead);
    }

    /// <summary>True while lookups merge (nothing of the list held); false once it is a dictionary.</summary>
    public bool Merging => _map is null;

    /// <summary>
    /// Opens the list: one pass over it checks every line (a malformed one is a <see cref="DatasetException"/> naming its
    /// line, before anything is listed) and whether the names are in order.
    /// </summary>
    /// <param name="beforeRead">Test seam: runs before each ranged read after the first pass (the list may be replaced there).</param>
    public static async Task<LabelList> OpenAsync(StorageAccount storage, BlobClient blob, string path, int classCount, Func<Task>? beforeRead = null,
        CancellationToken cancellationToken = default)
    {
        BlobProperties properties;
        try
        {
            properties = await storage.Resilience.ExecuteAsync(async ct => (await blob.GetPropertiesAsync(cancellationToken: ct)).Value, cancellationToken);
        }
        catch (RequestFailedException e) when (e.Status == 404)
        {
            throw new DatasetException($"label list '{path}' does not exist");
        }
        var list = new LabelList(storage, blob, path, classCount, properties.ETag, properties.ContentLength, beforeRead);
        var ordered = true;
        string? previous = null;
        await foreach (var (key, _) in list.EntriesAsync(first: true, cancellationToken))
        {
            ordered &= previous is null || string.CompareOrdinal(previous, key) <= 0;
            previous = key;
        }
        if (ordered)
            await list.RestartAsync(cancellationToken);
        else
            await list.LoadAsync(cancellationToken);
        return list;
    }

    /// <summary>The label of the file name <paramref name="key"/> (without extension), or null; the last line wins when a name repeats.</summary>
    public async ValueTask<int?> LabelOfAsync(string key, CancellationToken cancellationToken)
    {
        if (_map is null && _lastKey is not null && string.CompareOrdinal(key, _lastKey) < 0)
        {
            // The listing went back in name order (another folder): start the list again, or stop merging.
            if (++_rewinds >= MaxRewinds)
                await LoadAsync(cancellationToken);
            else
                await RestartAsync(cancellationToken);
        }
        _lastKey = key;
        if (_map is not null)
            return _map.TryGetValue(key, out var mapped) ? mapped : null;
        while (_current is { } c && string.CompareOrdinal(c.Key, key) < 0)
            await AdvanceAsync(cancellationToken);
        if (_current?.Key != key)
            return null;
        while (_next?.Key == key)
            await AdvanceAsync(cancellationToken);
        return _current!.Value.Label;
    }

    public async ValueTask DisposeAsync()
    {
        if (_lines is not null)
            await _lines.DisposeAsync();
    }

    private async Task RestartAsync(CancellationToken cancellationToken)
    {
        await DisposeAsync();
        _lines = EntriesAsync(first: false, cancellationToken).GetAsyncEnumerator(cancellationToken);
        _current = await ReadAsync();
        _next = await ReadAsync();
    }

    private async Task LoadAsync(CancellationToken cancellationToken)
    {
        await DisposeAsync();
        (_lines, _current, _next) = (null, null, null);
        var map = new Dictionary<string, int>(StringComparer.Ordinal);
        await foreach (var (key, label) in EntriesAsync(first: false, cancellationToken))
            map[key] = label;
        _map = map;
    }

    private async Task AdvanceAsync(CancellationToken cancellationToken)
    {
        _current = _next;
        _next = await ReadAsync();
    }

    private async ValueTask<(string Key, int Label)?> ReadAsync() =>
        _lines is not null && await _lines.MoveNextAsync() ? _lines.Current : null;

    /// <summary>The list's entries in file order, blank lines skipped.</summary>
    private async IAsyncEnumerable<(string Key, int Label)> EntriesAsync(bool first, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        var number = 0;
        await foreach (var line in LinesAsync(first, cancellationToken))
        {
            (string Key, int Label)? entry;
            try
            {
                entry = LabelledDataset.ParseValListLine(line, ++number, _classCount);
            }
            catch (DatasetFormatException)
            {
                // The list is blob content the caller may not be allowed to read: point at the line, never quote it.
                throw new DatasetException($"label list '{_path}': line {number.ToString(CultureInfo.InvariantCulture)} " +
                                           $"is not '<file name> <class index 0..{_classCount - 1}>'");
            }
            if (entry is { } e)
                yield return e;
        }
    }

    /// <summary>The list's lines (UTF-8, a leading BOM dropped), read <see cref="RangeBytes"/> at a time.</summary>
    private async IAsyncEnumerable<string> LinesAsync(bool first, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        var carry = new MemoryStream();
        for (long offset = 0; offset < _length; offset += RangeBytes)
        {
            var bytes = await ReadRangeAsync(offset, (int)Math.Min(RangeBytes, _length - offset), first, cancellationToken);
            var start = offset == 0 && bytes.AsSpan().StartsWith("\uFEFF"u8) ? 3 : 0;
            for (var i = start; i < bytes.Length; i++)
            {
                if (bytes[i] != (byte)'\n')
                    continue;
                carry.Write(bytes, start, i - start);
                yield return Encoding.UTF8.GetString(carry.GetBuffer(), 0, (int)carry.Length);
                carry.SetLength(0);
                start = i + 1;
            }
            carry.Write(bytes, start, bytes.Length - start);
        }
        if (carry.Length > 0)
            yield return Encoding.UTF8.GetString(carry.GetBuffer(), 0, (int)carry.Length);
    }

    private async Task<byte[]> ReadRangeAsync(long offset, int length, bool first, CancellationToken cancellationToken)
    {
        if (!first && _beforeRead is { } seam)
            await seam();
        var options = new BlobDownloadOptions { Range = new HttpRange(offset, length), Conditions = new BlobRequestConditions { IfMatch = _etag } };
        try
        {
            return await _storage.Resilience.ExecuteAsync(async ct => (await _blob.DownloadContentAsync(options, ct)).Value.Content.ToArray(), cancellationToken);
        }
        catch (RequestFailedException e) when (e.Status is 404 or 412)
        {
            // Permanent for this request: the run's labels would mix two versions of the list. Creating the run again reads the new one.
            throw new DatasetException($"label list '{_path}' changed or was deleted while the run was created; create it again");
        }
    }
}
