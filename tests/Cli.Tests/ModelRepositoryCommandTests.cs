using System.Text.Json;
using Azure.Data.Tables;
using Azure.Storage.Blobs;
using ConvNeXt.Batch.Scoring;
using ConvNeXt.Batch.Service.Models;
using ConvNeXt.Batch.Service.Storage;

namespace ConvNeXt.Batch.Cli.Tests;

/// <summary>
/// <c>model push | list | promote</c> and <c>--model NAME@VERSION</c> with two real models (SqueezeNet and a
/// random-weights ConvNeXt-atto), each test on an Azurite of its own: a promote changes what every later test
/// of a shared account would read by default.
/// </summary>
public sealed class ModelRepositoryCommandTests(AttoModelFixture atto) : IClassFixture<AttoModelFixture>, IAsyncLifetime
{
    private readonly AzuriteFixture azurite = new();

    public Task InitializeAsync() => azurite.InitializeAsync();

    public Task DisposeAsync() => azurite.DisposeAsync();

    private string[] Storage => ["--connection-string", azurite.ConnectionString];

    private async Task PushBothAsync()
    {
        var squeezenet = await CliRunner.RunOkAsync(["model", "push", Repository.SqueezeNet, "--name", "squeezenet", "--version", "1.1",
            "--preprocessing", "caffe", "--labels", Repository.LabelsFile, .. Storage]);
        Assert.Contains("pushed squeezenet@1.1: sha256 " + FileSha256.Compute(Repository.SqueezeNet), squeezenet.Out);
        var random = await CliRunner.RunOkAsync(["model", "push", atto.ModelPath, "--name", "atto", "--version", "1", .. Storage]);
        Assert.Contains("UNTRAINED", random.Out);
    }

    private async Task<BlobContainerClient> UploadAsync(string name, IEnumerable<string> samples)
    {
        var container = new BlobServiceClient(azurite.ConnectionString).GetBlobContainerClient(name);
        await container.CreateIfNotExistsAsync();
        foreach (var sample in samples)
            await container.GetBlobClient(sample).UploadAsync(Path.Combine(Repository.ImagenetSamples, sample), overwrite: true);
        return container;
    }

    [Fact]
    public async Task Two_models_score_the_same_container_into_rows_that_coexist_and_promote_switches_the_default()
    {
        Repository.RequireShared();
        await PushBothAsync();

        // A version is immutable.
        var again = await CliRunner.RunAsync(["model", "push", atto.ModelPath, "--name", "squeezenet", "--version", "1.1", .. Storage]);
        Assert.Equal(1, again.ExitCode);
        Assert.Contains("refused: model squeezenet@1.1 already exists", again.Error);

        var list = JsonDocument.Parse((await CliRunner.RunOkAsync(["model", "list", "--json", .. Storage])).Out).RootElement.EnumerateArray().ToList();
        Assert.Equal(["atto@1", "squeezenet@1.1"], list.Select(m => m.GetProperty("reference").GetString()));
        Assert.False(list[0].GetProperty("trained").GetBoolean());
        Assert.True(list[1].GetProperty("trained").GetBoolean());
        Assert.Equal(FileSha256.Compute(Repository.SqueezeNet), list[1].GetProperty("sha256").GetString());
        Assert.Equal(FileSha256.Compute(Repository.LabelsFile), list[1].GetProperty("labels_sha256").GetString());
        Assert.Equal("caffe", list[1].GetProperty("preprocessing").GetString());

        await UploadAsync("two-models", PredictTests.WellKnown);
        var n = PredictTests.WellKnown.Length;
        var jsonl = Path.Combine(CliRunner.TempDirectory(), "squeezenet.jsonl");
        await CliRunner.RunOkAsync(["score", "blob://two-models", "--table", "Predictions", "--model", "squeezenet@1.1", "--output", jsonl, "--quiet", .. Storage]);
        var csv = Path.Combine(CliRunner.TempDirectory(), "atto.csv");
        await CliRunner.RunOkAsync(["score", "blob://two-models", "--table", "Predictions", "--model", "atto@1", "--output", csv, "--quiet", .. Storage]);

        // Every output record names the model and its sha256.
        var records = File.ReadLines(jsonl).Select(l => JsonDocument.Parse(l).RootElement).ToList();
        Assert.Equal(n, records.Count);
        Assert.All(records, r => Assert.Equal("squeezenet@1.1", r.GetProperty("model").GetString()));
        Assert.All(records, r => Assert.Equal(FileSha256.Compute(Repository.SqueezeNet), r.GetProperty("model_sha256").GetString()));
        var csvLines = File.ReadAllLines(csv);
        Assert.EndsWith(",model,model_sha256", csvLines[0]);
        Assert.All(csvLines.Skip(1), l => Assert.EndsWith($",atto@1,{FileSha256.Compute(atto.ModelPath)}", l));

        // Both models' rows for the same blobs coexist, each naming its model, sha256 and execution provider.
        var table = new TableClient(azurite.ConnectionString, TableNames.Predictions);
        var rows = table.Query<PredictionEntity>(TableClient.CreateQueryFilter($"BlobName eq {PredictTests.WellKnown[0]}")).ToList();
        Assert.Equal(["two-models@atto@1", "two-models@squeezenet@1.1"], rows.Select(r => r.PartitionKey).Order(StringComparer.Ordinal));
        Assert.All(rows, r => Assert.Equal("cpu", r.ExecutionProvider));
        Assert.Equal(FileSha256.Compute(atto.ModelPath), Assert.Single(rows, r => r.ModelName == "atto").ModelSha256);

        var squeezenetRows = await PredictionsAsync("--container", "two-models", "--model", "squeezenet@1.1");
        Assert.Equal(n, squeezenetRows.Count);
        foreach (var sample in PredictTests.WellKnown)
        {
            var row = Assert.Single(squeezenetRows, r => r.GetProperty("blob").GetString() == sample);
            Assert.Equal("squeezenet@1.1", row.GetProperty("model").GetString());
            Assert.Equal(sample.Split('_')[0], row.GetProperty("top")[0].GetProperty("wnid").GetString());
        }
        var attoRows = await PredictionsAsync("--container", "two-models", "--model", "atto@1");
        Assert.Equal(n, attoRows.Count);
        Assert.All(attoRows, r => Assert.Equal("atto@1", r.GetProperty("model").GetString()));

        // The skip of unchanged blobs is per model: scoring again with SqueezeNet scores nothing.
        var rescore = await CliRunner.RunOkAsync(["score", "blob://two-models", "--table", "Predictions", "--model", "squeezenet@1.1", "--quiet", .. Storage]);
        Assert.Contains($"{n} unchanged", rescore.Error);

        // Nothing promoted yet: a container's default rows are the deployed model's (none here).
        Assert.Empty(await PredictionsAsync("--container", "two-models"));
        var promoted = await CliRunner.RunOkAsync(["model", "promote", "atto@1", .. Storage]);
        Assert.Contains("promoted atto@1 to default (was the deployed model)", promoted.Out);
        Assert.All(await PredictionsAsync("--container", "two-models"), r => Assert.Equal("atto@1", r.GetProperty("model").GetString()));
        // NAME alone is the version its alias names.
        Assert.Equal(n, (await PredictionsAsync("--container", "two-models", "--model", "atto")).Count);
        var aliases = JsonDocument.Parse((await CliRunner.RunOkAsync(["model", "list", "--json", .. Storage])).Out).RootElement.EnumerateArray()
            .Single(m => m.GetProperty("reference").GetString() == "atto@1").GetProperty("aliases").EnumerateArray().Select(a => a.GetString());
        Assert.Equal(["atto", "default"], aliases);
    }

    [Fact]
    public async Task Unknown_models_and_versions_exit_2_naming_them()
    {
        Repository.RequireShared();
        await UploadAsync("unknown-model", PredictTests.WellKnown.Take(1));
        foreach (var args in new[]
        {
            new[] { "results", "predictions", "--container", "unknown-model", "--model", "nosuch@1" },
            ["score", "blob://unknown-model", "--table", "Predictions", "--model", "nosuch@1"],
            ["model", "promote", "nosuch@1"],
            ["score", "blob://unknown-model", "--table", "Predictions", "--model", "nosuch"],
        })
        {
            var result = await CliRunner.RunAsync([.. args, .. Storage]);
            Assert.True(result.ExitCode == 2, result.ToString());
            var line = Assert.Single(result.ErrorLines);
            Assert.Contains("nosuch", line);
        }
        var badName = await CliRunner.RunAsync(["model", "push", atto.ModelPath, "--name", "Bad/Name", "--version", "1", .. Storage]);
        Assert.Equal(2, badName.ExitCode);
        Assert.Contains("not a model reference", badName.Error);
    }

    [Fact]
    public async Task Validation_runs_name_their_model_show_UNTRAINED_and_promote_require_refuses_a_worse_candidate()
    {
        Repository.RequireShared();
        await PushBothAsync();
        // 40 labelled images (names carry the wnid), copied out of ../shared into a temp folder.
        var folder = CliRunner.TempDirectory();
        foreach (var file in Directory.EnumerateFiles(Repository.ImagenetSamples).Order(StringComparer.Ordinal).Take(40))
            File.Copy(file, Path.Combine(folder, Path.GetFileName(file)));

        async Task<JsonElement> ValidateAsync(string model) => JsonDocument.Parse((await CliRunner.RunOkAsync(
            ["validate", folder, "--model", model, "--record", "--json", "--quiet", "--container", "validation", .. Storage])).Out).RootElement;
        var squeezenet = await ValidateAsync("squeezenet@1.1");
        var random = await ValidateAsync("atto@1");
        Assert.Equal("squeezenet@1.1", squeezenet.GetProperty("model").GetString());
        Assert.Equal("atto@1", random.GetProperty("model").GetString());
        Assert.False(random.GetProperty("trained").GetBoolean());
        var squeezenetRun = squeezenet.GetProperty("run_id").GetString()!;
        var attoRun = random.GetProperty("run_id").GetString()!;

        var runs = JsonDocument.Parse((await CliRunner.RunOkAsync(["results", "runs", "--format", "json", .. Storage])).Out).RootElement.EnumerateArray().ToList();
        var attoSummary = runs.Single(r => r.GetProperty("runId").GetString() == attoRun);
        Assert.Equal("atto@1", attoSummary.GetProperty("model").GetString());
        Assert.False(attoSummary.GetProperty("trained").GetBoolean());
        var table = await CliRunner.RunOkAsync(["results", "runs", .. Storage]);
        Assert.Contains("atto@1 UNTRAINED", table.Out);
        var text = await CliRunner.RunOkAsync(["validate", folder, "--model", "atto@1", "--record", "--quiet", "--container", "validation", .. Storage]);
        Assert.Contains("atto@1 (UNTRAINED)", text.Out);

        // The random model is worse on the same images: promoting it on that evidence is refused.
        var refused = await CliRunner.RunAsync(["model", "promote", "atto@1", "--require", $"{squeezenetRun},{attoRun}", .. Storage]);
        Assert.True(refused.ExitCode == 1, refused.ToString());
        Assert.Contains("refused: atto@1 is worse than squeezenet@1.1", refused.Error);
        var expectedAOnly = 0;
        // Independent count: the per-image rows of both runs, paired by blob.
        var predictions = new TableClient(azurite.ConnectionString, TableNames.ValidationPredictions);
        var a = predictions.Query<ValidationPredictionEntity>(e => e.PartitionKey == squeezenetRun).ToDictionary(e => e.RowKey, e => e.Correct1);
        var b = predictions.Query<ValidationPredictionEntity>(e => e.PartitionKey == attoRun).ToDictionary(e => e.RowKey, e => e.Correct1);
        expectedAOnly = a.Count(p => p.Value && !b[p.Key]);
        var expectedBOnly = b.Count(p => p.Value && !a[p.Key]);
        Assert.Contains($"40 paired images: {expectedAOnly} only squeezenet@1.1 ({squeezenetRun}) gets right, {expectedBOnly} only atto@1", refused.Out);
        Assert.True(expectedAOnly > 10, refused.ToString());

        // The other way round the candidate is better: promoted.
        var accepted = await CliRunner.RunOkAsync(["model", "promote", "squeezenet@1.1", "--require", $"{attoRun},{squeezenetRun}", .. Storage]);
        Assert.Contains("promoted squeezenet@1.1 to default", accepted.Out);
        // A run B of another model is no evidence for this one.
        var wrongRun = await CliRunner.RunAsync(["model", "promote", "atto@1", "--require", $"{attoRun},{squeezenetRun}", .. Storage]);
        Assert.Equal(1, wrongRun.ExitCode);
        Assert.Contains($"run {squeezenetRun} validated squeezenet@1.1, not atto@1", wrongRun.Error);
    }

    private async Task<List<JsonElement>> PredictionsAsync(params string[] args) =>
        JsonDocument.Parse((await CliRunner.RunOkAsync(["results", "predictions", .. args, "--format", "json", .. Storage])).Out).RootElement.EnumerateArray().ToList();
}
