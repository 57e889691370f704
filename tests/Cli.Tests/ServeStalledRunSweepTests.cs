using Azure.Data.Tables;
using ConvNeXt.Batch.Service.Storage;
using ConvNeXt.Batch.Service.Validation;

namespace ConvNeXt.Batch.Cli.Tests;

/// <summary>A running <c>serve</c> (the built binary) sweeps stalled runs as the StartValidationRun timer does in Azure, with <c>Validation__StallTimeout</c>.</summary>
[Collection(AzuriteCollection.Name)]
public class ServeStalledRunSweepTests(AzuriteFixture azurite, AttoModelFixture atto) : IClassFixture<AttoModelFixture>
{
    [Fact]
    public async Task Serve_marks_a_run_without_progress_failed_with_its_reason_after_the_configured_stall_timeout()
    {
        Repository.RequireShared();
        var runs = new TableClient(azurite.ConnectionString, TableNames.ValidationRuns);
        await runs.CreateIfNotExistsAsync();
        await new TableClient(azurite.ConnectionString, TableNames.ValidationChunks).CreateIfNotExistsAsync();
        var runId = "serve-stalled-" + Guid.NewGuid().ToString("N")[..8];
        // Created 30 s ago with no chunk done: stalled under a 2 s timeout, not under the default hour.
        await runs.UpsertEntityAsync(new ValidationRunEntity
        {
            RowKey = runId, Status = RunStatus.Running, DatasetContainer = "validation", ExpectedImageCount = 20, ChunkSize = 10, ChunkCount = 2,
            CreatedAt = DateTimeOffset.UtcNow.AddSeconds(-30), ChunkSigningKey = ChunkRules.NewKey(), ChunksDone = ChunkProgress.Empty(2),
        }, TableUpdateMode.Replace);

        await using var serve = await ServeProcess.StartAsync(atto.ModelPath, ["--connection-string", azurite.ConnectionString],
            new Dictionary<string, string?> { ["Validation__StallTimeout"] = "00:00:02" });
        ValidationRunEntity row = null!;
        for (var i = 0; i < 300; i++)
        {
            row = (await runs.GetEntityAsync<ValidationRunEntity>(ValidationRunEntity.PartitionKeyValue, runId)).Value;
            if (row.Status != RunStatus.Running)
                break;
            await Task.Delay(100);
        }
        Assert.Equal(RunStatus.Failed, row.Status);
        Assert.Matches(@"^stalled: no chunk finished for [0-9.]+ min \(limit 00:00:02\); 0 of 2 chunks done$", row.FailureReason);
        Assert.Equal(0, await serve.TerminateAsync());
        Assert.Contains($"run {runId} marked Failed: stalled: no chunk finished", serve.Error);
    }
}
