namespace ConvNeXt.Batch.Scoring.Tests;

public class AzuriteSmokeTests
{
    [Fact]
    public async Task Azurite_starts_and_listens()
    {
        await using var azurite = await Azurite.StartAsync();
        Assert.Contains("BlobEndpoint=http://127.0.0.1:", azurite.ConnectionString);
    }
}
