using System.Text;
using Azure.Storage.Blobs;
using ConvNeXt.Batch.Scoring.Evaluation;
using ConvNeXt.Batch.Service.Storage;
using ConvNeXt.Batch.Service.Validation;

namespace ConvNeXt.Batch.Service.Tests;

/// <summary>
/// A run's label list is merged with the listing when its lines are in name order (nothing of it held), and read into a
/// dictionary otherwise; either way every name gets the label <see cref="LabelledDataset.ParseValList"/> gives it.
/// </summary>
[Collection(StorageCollection.Name)]
public class LabelListTests(StorageFixture fixture)
{
    private readonly StorageAccount _storage = new(new StorageOptions { ConnectionString = fixture.ConnectionString });

    private async Task<BlobClient> UploadAsync(string name, string text)
    {
        var container = new BlobContainerClient(fixture.ConnectionString, "labellists");
        await container.CreateIfNotExistsAsync();
        var blob = container.GetBlobClient(name);
        await blob.UploadAsync(BinaryData.FromString(text), overwrite: true);
        return blob;
    }

    private Task<LabelList> OpenAsync(BlobClient blob, Func<Task>? beforeRead = null) =>
        LabelList.OpenAsync(_storage, blob, $"labellists/{blob.Name}", 1000, beforeRead);

    private static string Name(int i) => $"ILSVRC2012_val_{i:D8}";

    /// <summary>70,000 lines, about 2.3 MB: the list spans ranged reads, a line is cut at each range's end.</summary>
    private static string ValList(IEnumerable<int> order) => string.Concat(order.Select(i => $"{Name(i)}.JPEG {i * 7 % 1000}\r\n"));

    [Fact]
    public async Task A_sorted_list_is_merged_across_ranged_reads_and_gives_every_name_its_label()
    {
        var text = ValList(Enumerable.Range(1, 70_000));
        Assert.True(Encoding.UTF8.GetByteCount(text) > 2 * LabelList.RangeBytes);
        await using var list = await OpenAsync(await UploadAsync("sorted.txt", "\uFEFF" + text));
        Assert.True(list.Merging);
        // Every other name, in order, and names the list does not have.
        foreach (var i in Enumerable.Range(1, 35_000).Select(i => 2 * i - 1))
            Assert.Equal(i * 7 % 1000, await list.LabelOfAsync(Name(i), default));
        Assert.Null(await list.LabelOfAsync(Name(69_999) + "x", default));
        Assert.Null(await list.LabelOfAsync("zzz", default));
        Assert.True(list.Merging);
    }

    [Fact]
    public async Task A_listing_that_goes_back_restarts_the_merge_then_falls_back_to_a_dictionary_with_the_same_labels()
    {
        var text = ValList(Enumerable.Range(1, 2_000)) + $"{Name(2_000)}.JPEG 5\n";   // a repeated name: the last line wins
        var expected = LabelledDataset.ParseValList(text.Split('\n'));
        await using var list = await OpenAsync(await UploadAsync("folders.txt", text));
        // Five folders of the same files: the listing comes back to the first name four times.
        for (var folder = 0; folder < 5; folder++)
        {
            foreach (var i in new[] { 1, 500, 1_999, 2_000 })
                Assert.Equal(expected[Name(i)], await list.LabelOfAsync(Name(i), default));
            Assert.Equal(folder < 3, list.Merging);
        }
        Assert.Equal(5, expected[Name(2_000)]);
    }

    [Fact]
    public async Task A_list_out_of_order_is_read_into_a_dictionary()
    {
        var order = Enumerable.Range(1, 3_000).OrderBy(i => i * 7919 % 3001).ToList();
        await using var list = await OpenAsync(await UploadAsync("shuffled.txt", ValList(order)));
        Assert.False(list.Merging);
        foreach (var i in new[] { 1, 1_500, 3_000, 42 })
            Assert.Equal(i * 7 % 1000, await list.LabelOfAsync(Name(i), default));
    }

    [Fact]
    public async Task A_malformed_or_missing_list_is_a_dataset_error_that_names_the_line_and_never_quotes_it()
    {
        var bad = await UploadAsync("bad.txt", $"{Name(1)}.JPEG 1\n\n{Name(2)}.JPEG secret-label\n");
        var e = await Assert.ThrowsAsync<DatasetException>(() => OpenAsync(bad));
        Assert.Equal("label list 'labellists/bad.txt': line 3 is not '<file name> <class index 0..999>'", e.Message);

        var missing = new BlobContainerClient(fixture.ConnectionString, "labellists").GetBlobClient("none.txt");
        Assert.Equal("label list 'labellists/none.txt' does not exist", (await Assert.ThrowsAsync<DatasetException>(() => OpenAsync(missing))).Message);
    }

    [Fact]
    public async Task A_list_replaced_while_a_run_is_created_is_a_dataset_error_not_a_mix_of_two_lists()
    {
        var blob = await UploadAsync("replaced.txt", ValList(Enumerable.Range(1, 100)));
        var e = await Assert.ThrowsAsync<DatasetException>(() =>
            OpenAsync(blob, () => blob.UploadAsync(BinaryData.FromString(ValList(Enumerable.Range(1, 100).Reverse())), overwrite: true)));
        Assert.Equal("label list 'labellists/replaced.txt' changed or was deleted while the run was created; create it again", e.Message);
    }
}
