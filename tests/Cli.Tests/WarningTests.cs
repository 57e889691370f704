using Azure.Storage.Blobs;

namespace ConvNeXt.Batch.Cli.Tests;

/// <summary>Successes that did less than asked say so on standard error.</summary>
[Collection(AzuriteCollection.Name)]
public class WarningTests(AzuriteFixture azurite)
{
    [Fact]
    public async Task Watch_once_on_a_missing_container_warns_and_does_not_create_it()
    {
        Repository.RequireShared();
        var result = await CliRunner.RunOkAsync(["watch", "--container", "nosuch", "--once", "--connection-string", azurite.ConnectionString, .. CliRunner.SqueezeNet]);
        Assert.Contains("warning: container 'nosuch' does not exist: nothing scored", result.Error);
        Assert.False(await new BlobServiceClient(azurite.ConnectionString).GetBlobContainerClient("nosuch").ExistsAsync());
    }

    [Fact]
    public async Task Watch_once_on_an_empty_container_warns()
    {
        Repository.RequireShared();
        await new BlobServiceClient(azurite.ConnectionString).GetBlobContainerClient("empty-watched").CreateIfNotExistsAsync();
        var result = await CliRunner.RunOkAsync(["watch", "--container", "empty-watched", "--once", "--connection-string", azurite.ConnectionString, .. CliRunner.SqueezeNet]);
        Assert.Contains("warning: no blobs in blob://empty-watched/", result.Error);
    }

    [Fact]
    public async Task Validate_says_which_images_it_left_out()
    {
        Repository.RequireShared();
        var dir = CliRunner.TempDirectory();
        Directory.CreateDirectory(Path.Combine(dir, "extra"));
        File.Copy(Path.Combine(Repository.ImagenetSamples, "n01443537_goldfish.JPEG"), Path.Combine(dir, "a.JPEG"));
        File.Copy(Path.Combine(Repository.ImagenetSamples, "n01440764_tench.JPEG"), Path.Combine(dir, "b.JPEG"));
        File.Copy(Path.Combine(Repository.ImagenetSamples, "n01518878_ostrich.JPEG"), Path.Combine(dir, "extra", "c.JPEG"));
        await File.WriteAllTextAsync(Path.Combine(dir, "val.txt"), "a.JPEG 1\nb.JPEG 0\n");

        var result = await CliRunner.RunOkAsync(["validate", dir, "--ground-truth", Path.Combine(dir, "val.txt"), "--json", .. CliRunner.SqueezeNet]);
        Assert.Contains("warning: 1 image(s) in subfolders are ignored", result.Error);
        Assert.Contains("\"count\": 2", result.Out);
    }
}
