using System.Text.Json;
using Azure.Storage.Blobs;

namespace ConvNeXt.Batch.Cli.Tests;

/// <summary><c>jobs start | status | list | cancel</c> against Azurite with SqueezeNet over real JPEGs.</summary>
[Collection(AzuriteCollection.Name)]
public class JobsCommandTests(AzuriteFixture azurite)
{
    private string[] Storage => ["--connection-string", azurite.ConnectionString];

    [Fact]
    public async Task Start_prints_the_job_id_runs_it_and_a_second_job_skips_what_the_first_scored()
    {
        Repository.RequireShared();
        var container = new BlobServiceClient(azurite.ConnectionString).GetBlobContainerClient("jobs-cli");
        await container.CreateIfNotExistsAsync();
        foreach (var path in Directory.GetFiles(Repository.ImagenetSamples, "*.JPEG").Order().Take(12))
            await container.GetBlobClient("old/" + Path.GetFileName(path)).UploadAsync(path, overwrite: true);

        var started = await CliRunner.RunOkAsync(["jobs", "start", "--container", "jobs-cli", "--prefix", "old/", "--chunk-size", "5", .. Storage, .. CliRunner.SqueezeNet]);
        var jobId = started.Out.Trim();
        Assert.Matches("^job-[0-9]{8}T[0-9]{6}Z-[0-9a-f]{8}$", jobId);
        Assert.Contains($"{jobId} Completed: jobs-cli/old/ with squeezenet1.1-fp16; planned 12, done 12, skipped 0, failed 0, chunks 3/3", started.Error);

        var status = JsonDocument.Parse((await CliRunner.RunOkAsync(["jobs", "status", jobId, "--json", .. Storage])).Out).RootElement;
        Assert.Equal(("Completed", 12, 12, 0, 3), (status.GetProperty("status").GetString(), status.GetProperty("planned").GetInt32(),
            status.GetProperty("done").GetInt32(), status.GetProperty("skipped").GetInt32(), status.GetProperty("chunksDone").GetInt32()));

        var second = await CliRunner.RunOkAsync(["jobs", "start", "--container", "jobs-cli", "--prefix", "old/", "--chunk-size", "5", .. Storage, .. CliRunner.SqueezeNet]);
        Assert.Contains("planned 12, done 0, skipped 12, failed 0", second.Error);

        var list = await CliRunner.RunOkAsync(["jobs", "list", "--format", "csv", .. Storage]);
        Assert.Contains(jobId, list.Out);
        Assert.Contains(second.Out.Trim(), list.Out);
        // Cancelling a finished job changes nothing.
        Assert.Contains($"{jobId} Completed", (await CliRunner.RunOkAsync(["jobs", "cancel", jobId, .. Storage])).Out);

        var unknown = await CliRunner.RunAsync(["jobs", "status", "job-none", .. Storage]);
        Assert.Equal(2, unknown.ExitCode);
        Assert.Contains("no scoring job 'job-none'", Assert.Single(unknown.ErrorLines));
        var badContainer = await CliRunner.RunAsync(["jobs", "start", "--container", "Bad_Name", .. Storage, .. CliRunner.SqueezeNet]);
        Assert.Equal(2, badContainer.ExitCode);
        var missing = await CliRunner.RunAsync(["jobs", "start", "--container", "no-such-container", .. Storage, .. CliRunner.SqueezeNet]);
        Assert.Equal(2, missing.ExitCode);
        Assert.Contains("container 'no-such-container' does not exist", missing.Error);
    }
}
