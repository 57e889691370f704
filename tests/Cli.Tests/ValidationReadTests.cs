using Azure.Data.Tables;
using ConvNeXt.Batch.Service.Storage;
using ConvNeXt.Batch.Service.Validation;

namespace ConvNeXt.Batch.Cli.Tests;

/// <summary><c>results run</c> and <c>results report</c> read: a stalled run is shown stalled and its row is left as it was.</summary>
[Collection(AzuriteCollection.Name)]
public class ValidationReadTests(AzuriteFixture azurite)
{
    private string[] Storage => ["--connection-string", azurite.ConnectionString];

    [Fact]
    public async Task Results_run_and_report_show_a_stalled_run_as_stalled_and_write_nothing()
    {
        var runs = new TableClient(azurite.ConnectionString, TableNames.ValidationRuns);
        await runs.CreateIfNotExistsAsync();
        await new TableClient(azurite.ConnectionString, TableNames.ValidationChunks).CreateIfNotExistsAsync();
        await runs.UpsertEntityAsync(new ValidationRunEntity
        {
            RowKey = "cli-stalled", Status = RunStatus.Running, DatasetContainer = "validation", ExpectedImageCount = 20, ChunkSize = 10, ChunkCount = 2,
            CreatedAt = DateTimeOffset.UtcNow.AddHours(-2), ChunkSigningKey = ChunkRules.NewKey(), ChunksDone = ChunkProgress.Empty(2),
        }, TableUpdateMode.Replace);
        var before = (await runs.GetEntityAsync<ValidationRunEntity>(ValidationRunEntity.PartitionKeyValue, "cli-stalled")).Value;

        var shown = await CliRunner.RunOkAsync(["results", "run", "cli-stalled", "--format", "json", .. Storage]);
        Assert.Contains("\"Stalled\"", shown.Out);
        Assert.Contains("0 of 2 chunks done", shown.Out);
        var file = Path.Combine(CliRunner.TempDirectory(), "stalled.html");
        await CliRunner.RunOkAsync(["results", "report", "cli-stalled", "-o", file, .. Storage]);
        Assert.Contains("This run has stalled", await File.ReadAllTextAsync(file));

        var after = (await runs.GetEntityAsync<ValidationRunEntity>(ValidationRunEntity.PartitionKeyValue, "cli-stalled")).Value;
        Assert.Equal((RunStatus.Running, before.ETag, (string?)null), (after.Status, after.ETag, after.FailureReason));
    }
}
