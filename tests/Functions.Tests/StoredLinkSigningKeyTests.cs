using Azure.Storage.Blobs;
using ConvNeXt.Batch.Service.Reports;
using ConvNeXt.Batch.Service.Storage;
using Microsoft.Extensions.DependencyInjection;

namespace ConvNeXt.Batch.Functions.Tests;

/// <summary>Replicas of one deployment sign report links with one key, kept in storage, when none is configured.</summary>
[Collection(FunctionsCollection.Name)]
public class StoredLinkSigningKeyTests(FunctionsFixture fixture)
{
    [Fact]
    public async Task Two_handler_instances_without_a_configured_key_accept_each_others_links()
    {
        await using var second = await FunctionsFixture.StartHandlerAsync(fixture.ConnectionString);
        var first = fixture.App.Services.GetRequiredService<ReportLinkTokens>();
        var other = second.Services.GetRequiredService<ReportLinkTokens>();

        var token = first.Issue("images/a.jpg");
        Assert.True(other.IsValid("images/a.jpg", token));
        Assert.True(first.IsValid(ReportLinkTokens.PagesScope, other.Issue(ReportLinkTokens.PagesScope)));

        // It is the stored key that signs: the blob's key checks the token, a fresh random one does not.
        var stored = (await new BlobServiceClient(fixture.ConnectionString).GetBlobContainerClient(ContainerNames.ValidationRuns)
            .GetBlobClient(StoredLinkSigningKey.BlobName).DownloadContentAsync()).Value.Content.ToString();
        Assert.True(new ReportLinkTokens(Convert.FromBase64String(stored), TimeSpan.FromMinutes(1)).IsValid("images/a.jpg", token));
        Assert.False(ReportLinkTokens.FromOptions(new ReportOptions()).IsValid("images/a.jpg", token));
    }
}
