using Azure.Storage.Blobs;

namespace ConvNeXt.Batch.Cli.Tests;

[Collection(AzuriteCollection.Name)]
public class UploadTests(AzuriteFixture azurite)
{
    [Fact]
    public async Task Upload_puts_a_folders_images_under_the_prefix_and_warns_about_the_rest()
    {
        Repository.RequireShared();
        var dir = CliRunner.TempDirectory();
        Directory.CreateDirectory(Path.Combine(dir, "sub"));
        File.Copy(Path.Combine(Repository.ImagenetSamples, "n01440764_tench.JPEG"), Path.Combine(dir, "tench.JPEG"));
        File.Copy(Path.Combine(Repository.ImagenetSamples, "n01443537_goldfish.JPEG"), Path.Combine(dir, "sub", "goldfish.JPEG"));
        File.WriteAllText(Path.Combine(dir, "notes.txt"), "not an image");

        var result = await CliRunner.RunOkAsync("upload", dir, "--container", "uploaded", "--prefix", "p/", "--connection-string", azurite.ConnectionString);
        Assert.Contains("warning: skipped 1 file(s) that are not images", result.Error);
        Assert.Contains("notes.txt", result.Error);
        Assert.Contains("uploaded 2 images", result.Error);
        Assert.Contains("blob://uploaded/p/", result.Error);

        var container = new BlobServiceClient(azurite.ConnectionString).GetBlobContainerClient("uploaded");
        var names = new List<string>();
        await foreach (var blob in container.GetBlobsAsync())
            names.Add(blob.Name);
        Assert.Equal(["p/sub/goldfish.JPEG", "p/tench.JPEG"], names.Order(StringComparer.Ordinal));
        var downloaded = (await container.GetBlobClient("p/tench.JPEG").DownloadContentAsync()).Value.Content.ToArray();
        Assert.Equal(await File.ReadAllBytesAsync(Path.Combine(dir, "tench.JPEG")), downloaded);
    }

    [Fact]
    public async Task Upload_of_a_folder_without_images_warns_and_uploads_nothing()
    {
        var dir = CliRunner.TempDirectory();
        var result = await CliRunner.RunOkAsync("upload", dir, "--container", "uploaded-empty", "--connection-string", azurite.ConnectionString);
        Assert.Contains("warning: no images found", result.Error);
        Assert.False(await new BlobServiceClient(azurite.ConnectionString).GetBlobContainerClient("uploaded-empty").ExistsAsync());
    }

    [Fact]
    public async Task Upload_with_a_bad_container_name_is_a_usage_error()
    {
        var result = await CliRunner.RunAsync("upload", CliRunner.TempDirectory(), "--container", "Bad_Name");
        Assert.Equal(2, result.ExitCode);
        Assert.Single(result.ErrorLines);
    }
}

public class StorageErrorTests
{
    [Fact]
    public async Task Unreachable_storage_says_what_is_unreachable_and_what_to_do()
    {
        // A loopback port nothing listens on.
        using var listener = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0);
        listener.Start();
        var port = ((System.Net.IPEndPoint)listener.LocalEndpoint).Port;
        listener.Stop();
        var connection = $"DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==;BlobEndpoint=http://127.0.0.1:{port}/devstoreaccount1;TableEndpoint=http://127.0.0.1:{port}/devstoreaccount1;";
        var result = await CliRunner.RunAsync("results", "runs", "--connection-string", connection);
        Assert.Equal(1, result.ExitCode);
        var line = Assert.Single(result.ErrorLines);
        Assert.Contains($"cannot reach blob storage at 127.0.0.1:{port} (connection refused", line);
        Assert.Contains("--connection-string", line);
        Assert.DoesNotContain("Retry failed", line);
    }

    [Theory]
    [InlineData("foo")]
    [InlineData("AccountName=x;AccountKey=notbase64!;DefaultEndpointsProtocol=https")]
    public async Task A_malformed_connection_string_is_a_usage_error(string connection)
    {
        var result = await CliRunner.RunAsync("results", "runs", "--connection-string", connection);
        Assert.True(result.ExitCode == 2, result.ToString());
        var line = Assert.Single(result.ErrorLines);
        Assert.StartsWith("error: the connection string from --connection-string is malformed: ", line);
        Assert.EndsWith("(see 'convnext-batch results runs --help')", line);
        Assert.Equal("", result.Out);
    }
}
