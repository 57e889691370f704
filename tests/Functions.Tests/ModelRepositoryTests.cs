using System.Text.Json.Nodes;
using Azure;
using Azure.Data.Tables;
using Azure.Storage.Blobs;
using ConvNeXt.Batch.Functions.Handler;
using ConvNeXt.Batch.Scoring;
using ConvNeXt.Batch.Scoring.Importers;
using ConvNeXt.Batch.Scoring.Models;
using ConvNeXt.Batch.Scoring.Onnx;
using ConvNeXt.Batch.Service.Api;
using ConvNeXt.Batch.Service.Jobs;
using ConvNeXt.Batch.Service.Models;
using ConvNeXt.Batch.Service.Services;
using ConvNeXt.Batch.Service.Storage;
using ConvNeXt.Batch.Service.Validation;
using Microsoft.AspNetCore.TestHost;
using Microsoft.Extensions.DependencyInjection;
using Polly;
using Polly.Simmy;
using Polly.Simmy.Fault;

namespace ConvNeXt.Batch.Functions.Tests;

/// <summary>
/// The model repository under the services: events follow the promoted model, each row names the model that
/// scored it, a file that fails its manifest is never loaded, and unknown models are 404. An Azurite of its
/// own: a promote would change what the shared handler scores with.
/// </summary>
public sealed class ModelRepositoryTests : IAsyncLifetime
{
    private static readonly string[] Samples = ["n01440764_tench.JPEG", "n01443537_goldfish.JPEG", "n01484850_great_white_shark.JPEG", "n01491361_tiger_shark.JPEG"];
    private static readonly ModelReference SqueezeNet = ModelReference.Parse("squeezenet@1");
    private static readonly ModelReference Atto = ModelReference.Parse("atto@1");

    private Azurite? _azurite;
    private string _attoPath = "";
    private string ConnectionString => _azurite!.ConnectionString;

    public async Task InitializeAsync()
    {
        Repository.RequireShared();
        _azurite = await Azurite.StartAsync();
        _attoPath = Path.Combine(Path.GetTempPath(), $"atto-{Guid.NewGuid():N}.onnx");
        ConvNeXtOnnxBuilder.BuildToFile(RandomWeights.Create(ConvNeXtSpec.Find("atto"), 1000, seed: 3), new ModelBuildOptions { ImageSize = 64 }, _attoPath);
        var container = new BlobServiceClient(ConnectionString).GetBlobContainerClient(ContainerNames.Images);
        await container.CreateIfNotExistsAsync();
        foreach (var sample in Samples)
            await container.GetBlobClient(sample).UploadAsync(Path.Combine(Repository.ImagenetSamples, sample), overwrite: true);
    }

    public async Task DisposeAsync()
    {
        File.Delete(_attoPath);
        if (_azurite is not null)
            await _azurite.DisposeAsync();
    }

    private StorageAccount Account() => new(new StorageOptions
    {
        ConnectionString = ConnectionString,
        Resilience = new StorageResilienceOptions { BaseDelay = TimeSpan.FromMilliseconds(5), MaxDelay = TimeSpan.FromMilliseconds(20) },
    });

    private static ModelRepositoryOptions Options(string cache) => new() { AliasCacheSeconds = 0, MaxLoaded = 2, CacheDirectory = cache };

    private async Task<ModelRepository> PushBothAsync(StorageAccount account)
    {
        var repository = new ModelRepository(account, Options(Path.Combine(Path.GetTempPath(), "convnext-model-tests", Guid.NewGuid().ToString("N"))));
        await repository.PushAsync(new ModelPushRequest { File = Repository.SqueezeNet, Reference = SqueezeNet, Preprocessing = "caffe", LabelsFile = Repository.LabelsFile });
        await repository.PushAsync(new ModelPushRequest { File = _attoPath, Reference = Atto, LabelsFile = Repository.LabelsFile });
        return repository;
    }

    private static (ModelCache Cache, ScoringEngine Engine, BlobScoringService Service) Services(StorageAccount account, ModelRepository repository, ModelRepositoryOptions options)
    {
        var scoring = new ScoringOptions { BatchSize = 4, DecodeWorkers = 2 };
        var cache = new ModelCache(repository, scoring, options, null);
        var engine = new ScoringEngine(new Service.Models.ModelOptions(), scoring, account, null, cache);
        // The rest as the hosts compose it; the provider is left to the collector (the engine and account are instances it does not own).
        var services = ServiceGraph.For(account, engine, new Dictionary<string, string?> { ["Scoring:BatchSize"] = "4", ["Scoring:DecodeWorkers"] = "2" });
        return (cache, engine, services.GetRequiredService<BlobScoringService>());
    }

    private List<PredictionEntity> Rows(string partition) =>
        [.. new TableClient(ConnectionString, TableNames.Predictions).Query<PredictionEntity>(e => e.PartitionKey == partition)];

    [Fact]
    public async Task A_promote_while_events_are_in_flight_leaves_each_row_naming_the_model_that_scored_it()
    {
        var account = Account();
        var repository = await PushBothAsync(account);
        var cacheDirectory = Path.Combine(Path.GetTempPath(), "convnext-model-tests", Guid.NewGuid().ToString("N"));
        var (cache, _, service) = Services(account, repository, Options(cacheDirectory));
        using var _ = cache;
        await repository.PromoteAsync(SqueezeNet, "test");

        // The call resolves the default once: the promote it sees after its first row changes nothing in it.
        Task? promote = null;
        var first = await service.ScoreContainerAsync(ContainerNames.Images, new ContainerScoringOptions
        {
            Progress = _ => promote ??= repository.PromoteAsync(Atto, "test"),
        });
        await promote!;
        Assert.Equal(Samples.Length, first.Scored);
        var second = await service.ScoreContainerAsync(ContainerNames.Images);
        Assert.Equal(Samples.Length, second.Scored);

        var squeezenetRows = Rows("images@squeezenet@1");
        var attoRows = Rows("images@atto@1");
        Assert.Equal(Samples.Length, squeezenetRows.Count);
        Assert.Equal(Samples.Length, attoRows.Count);
        Assert.All(squeezenetRows, r => Assert.Equal(("squeezenet", "1", FileSha256.Compute(Repository.SqueezeNet)), (r.ModelName, r.ModelVersion, r.ModelSha256)));
        Assert.All(attoRows, r => Assert.Equal(("atto", "1", FileSha256.Compute(_attoPath)), (r.ModelName, r.ModelVersion, r.ModelSha256)));
        Assert.All([.. squeezenetRows, .. attoRows], r => Assert.Equal("cpu", r.ExecutionProvider));
        Assert.All(squeezenetRows, r => Assert.Equal(r.BlobName.Split('_')[0], r.Top1Wnid));
        // The deployed model's partition (rows from before the repository) is untouched.
        Assert.Empty(Rows("images"));
        Assert.Equal([SqueezeNet, Atto], cache.Loaded);
    }

    [Fact]
    public async Task The_cache_keeps_at_most_MaxLoaded_models_and_unloads_the_least_recently_used()
    {
        var account = Account();
        var repository = await PushBothAsync(account);
        await repository.PushAsync(new ModelPushRequest { File = Repository.SqueezeNet, Reference = ModelReference.Parse("squeezenet@2"), Preprocessing = "caffe", LabelsFile = Repository.LabelsFile });
        var options = Options(Path.Combine(Path.GetTempPath(), "convnext-model-tests", Guid.NewGuid().ToString("N")));
        options.MaxLoaded = 2;
        var (cache, engine, _) = Services(account, repository, options);
        using var _ = cache;
        await engine.GetModelInfoAsync(SqueezeNet);
        await engine.GetModelInfoAsync(Atto);
        await engine.GetModelInfoAsync(SqueezeNet); // most recent now
        await engine.GetModelInfoAsync(ModelReference.Parse("squeezenet@2"));
        Assert.Equal([SqueezeNet, ModelReference.Parse("squeezenet@2")], cache.Loaded);
        Assert.Equal(3, cache.Loads);
    }

    [Fact]
    public async Task A_model_file_that_differs_from_its_manifest_is_not_loaded_and_each_row_says_why()
    {
        var account = Account();
        var repository = await PushBothAsync(account);
        // Someone with write access replaces the file of a pushed version.
        await new BlobServiceClient(ConnectionString).GetBlobContainerClient(ContainerNames.Models)
            .GetBlobClient("squeezenet/1/model.onnx").UploadAsync(_attoPath, overwrite: true);
        var (cache, _, service) = Services(account, repository, Options(Path.Combine(Path.GetTempPath(), "convnext-model-tests", Guid.NewGuid().ToString("N"))));
        using var _ = cache;

        var result = await service.ScoreAsync(Samples.Select(s => new BlobReference(ContainerNames.Images, s, "\"0x1\"")), SqueezeNet);
        Assert.Equal((0, Samples.Length), (result.Scored, result.Failed));
        Assert.Empty(cache.Loaded);
        var rows = Rows("images@squeezenet@1");
        Assert.Equal(Samples.Length, rows.Count);
        Assert.All(rows, r =>
        {
            Assert.Equal(BlobScoringService.ModelRejected, r.ErrorReason);
            Assert.Contains($"has SHA-256 {FileSha256.Compute(_attoPath)}, but its manifest says {FileSha256.Compute(Repository.SqueezeNet)}: not loaded", r.ErrorMessage);
            Assert.Equal(FileSha256.Compute(Repository.SqueezeNet), r.ModelSha256);
        });
        // Not final: once the file is put right, the same blobs are scored.
        Assert.False(BlobScoringService.IsFinal(rows[0], "\"0x1\"", FileSha256.Compute(Repository.SqueezeNet)));
    }

    [Fact]
    public async Task A_manifest_that_cannot_be_read_fails_the_call_as_transient_and_writes_no_row()
    {
        var account = Account();
        await PushBothAsync(account);
        var down = new StorageAccount(new StorageOptions
        {
            ConnectionString = ConnectionString,
            Resilience = new StorageResilienceOptions
            {
                MaxRetryAttempts = 2,
                BaseDelay = TimeSpan.FromMilliseconds(2),
                MaxDelay = TimeSpan.FromMilliseconds(5),
                ConfigureInner = b => b.AddChaosFault(new ChaosFaultStrategyOptions
                {
                    InjectionRate = 1,
                    FaultGenerator = _ => ValueTask.FromResult<Exception?>(new RequestFailedException(503, "injected: storage unavailable")),
                }),
            },
        });
        var repository = new ModelRepository(down, Options(Path.Combine(Path.GetTempPath(), "convnext-model-tests", Guid.NewGuid().ToString("N"))));
        var (cache, _, service) = Services(account, repository, Options(""));
        using var _ = cache;

        var e = await Assert.ThrowsAnyAsync<Exception>(() => service.ScoreAsync(Samples.Select(s => new BlobReference(ContainerNames.Images, s, "\"0x1\"")), SqueezeNet));
        Assert.Equal(StorageFailureKind.Transient, StorageFailures.Classify(e));
        Assert.Empty(Rows("images@squeezenet@1"));
    }

    [Fact]
    public async Task A_job_whose_model_left_the_repository_fails_with_the_reason_instead_of_retrying_its_chunks()
    {
        var account = Account();
        var repository = await PushBothAsync(account);
        var gone = ModelReference.Parse("gone@1");
        await repository.PushAsync(new ModelPushRequest { File = _attoPath, Reference = gone, LabelsFile = Repository.LabelsFile });
        var (planningCache, planningEngine, planningService) = Services(account, repository, Options(Path.Combine(Path.GetTempPath(), "convnext-model-tests", Guid.NewGuid().ToString("N"))));
        using var _ = planningCache;
        var options = new ScoringJobOptions { ChunkSize = 2 };
        var (job, first) = await new ScoringJobService(account, new JobModels(planningEngine, planningService), options, null).StartAsync(
            new ScoringJobRequest { Container = ContainerNames.Images, Model = "gone@1" });
        var step = await new ScoringJobService(account, new JobModels(planningEngine, planningService), options, null).PlanStepAsync(first);
        Assert.Equal(2, step.Chunks.Count);

        // Deleted by hand while the job runs; a worker that has not loaded it (its own cache) takes the chunk.
        var models = new BlobServiceClient(ConnectionString).GetBlobContainerClient(ContainerNames.Models);
        await foreach (var blob in models.GetBlobsAsync(new Azure.Storage.Blobs.Models.GetBlobsOptions { Prefix = "gone/" }))
            await models.DeleteBlobAsync(blob.Name);
        var (workerCache, workerEngine, workerService) = Services(account, repository, Options(Path.Combine(Path.GetTempPath(), "convnext-model-tests", Guid.NewGuid().ToString("N"))));
        using var __ = workerCache;
        var worker = new ScoringJobService(account, new JobModels(workerEngine, workerService), options, null);

        var e = await Assert.ThrowsAsync<InvalidChunkException>(() => worker.ScoreChunkAsync(step.Chunks[0]));
        Assert.StartsWith("chunk 0 not scored: model gone@1 is not in the repository", e.Message);
        var failed = (await worker.GetAsync(job.JobId))!;
        Assert.Equal((JobStates.Failed, e.Message), (failed.Status, failed.FailureReason));
        Assert.Empty(Rows("images@gone@1"));
        // The other chunk's delivery finds the job failed and scores nothing.
        Assert.False((await worker.ScoreChunkAsync(step.Chunks[1])).Counted);
        Assert.Equal(0, (await worker.GetAsync(job.JobId))!.ChunksDone);
    }

    [Fact]
    public async Task An_unknown_model_named_by_the_caller_is_refused_naming_it_and_writes_no_row()
    {
        var account = Account();
        var repository = await PushBothAsync(account);
        var (cache, _, service) = Services(account, repository, Options(Path.Combine(Path.GetTempPath(), "convnext-model-tests", Guid.NewGuid().ToString("N"))));
        using var _ = cache;
        var e = await Assert.ThrowsAsync<ModelNotFoundException>(() =>
            service.ScoreAsync(Samples.Select(s => new BlobReference(ContainerNames.Images, s)), ModelReference.Parse("atto@7")));
        Assert.Contains("atto@7", e.Message);
        Assert.Empty(Rows("images@atto@7"));
        Assert.Empty(Rows("images"));
    }

    [Fact]
    public async Task A_validation_run_of_a_model_whose_file_fails_its_manifest_is_refused_saying_why()
    {
        var account = Account();
        await PushBothAsync(account);
        await new BlobServiceClient(ConnectionString).GetBlobContainerClient(ContainerNames.Models)
            .GetBlobClient("squeezenet/1/model.onnx").UploadAsync(_attoPath, overwrite: true);
        var cacheDirectory = Path.Combine(Path.GetTempPath(), "convnext-model-tests", Guid.NewGuid().ToString("N"));
        // The second run reads the images the other tests scored: a dataset container here.
        await using var app = await FunctionsFixture.StartHandlerAsync(ConnectionString, services => services
            .AddSingleton(Options(cacheDirectory))
            .AddSingleton(new ValidationDefaultsOptions { DatasetContainers = [ContainerNames.Validation, ContainerNames.Images] }));
        var api = app.Services.GetRequiredService<ServiceApi>();

        var run = await api.CreateValidationRunAsync(new JsonObject { ["model"] = "squeezenet@1", ["labels"] = "names", ["container"] = ContainerNames.Validation }.ToJsonString(), "http");
        Assert.Equal(422, run.Response.StatusCode);
        Assert.Contains($"has SHA-256 {FileSha256.Compute(_attoPath)}, but its manifest says {FileSha256.Compute(Repository.SqueezeNet)}: not loaded",
            ((ApiProblem)run.Response.Body!).Error);
        Assert.Empty(app.Services.GetRequiredService<ModelCache>().Loaded);
        // The other model is fine: its run is created and names it.
        var atto = await api.CreateValidationRunAsync(new JsonObject { ["model"] = "atto@1", ["labels"] = "names", ["container"] = ContainerNames.Images, ["prefix"] = "" }.ToJsonString(), "http");
        Assert.True(atto.Response.StatusCode == 201, System.Text.Json.JsonSerializer.Serialize(atto.Response.Body));
        Assert.Equal("atto@1", atto.Value!.Run.Model);
        Assert.False(atto.Value.Run.Trained);
    }

    [Fact]
    public async Task Pushing_over_an_existing_version_is_refused_and_the_manifest_is_unchanged()
    {
        var account = Account();
        var repository = await PushBothAsync(account);
        var e = await Assert.ThrowsAsync<ModelVersionExistsException>(() =>
            repository.PushAsync(new ModelPushRequest { File = _attoPath, Reference = SqueezeNet }));
        Assert.Contains("squeezenet@1 already exists", e.Message);
        Assert.Equal(FileSha256.Compute(Repository.SqueezeNet), (await repository.GetManifestAsync(SqueezeNet)).Sha256);
    }

    [Fact]
    public async Task Unknown_models_are_404_naming_them_in_the_api()
    {
        var account = Account();
        await PushBothAsync(account);
        await using var app = await FunctionsFixture.StartHandlerAsync(ConnectionString);
        using var client = app.GetTestClient();
        client.DefaultRequestHeaders.Add(FunctionKeys.HeaderName, FunctionsFixture.FunctionKey);

        using var missing = await client.GetAsync("/api/predictions?container=images&model=nosuch@1");
        Assert.Equal(404, (int)missing.StatusCode);
        Assert.Contains("nosuch@1", await missing.Content.ReadAsStringAsync());
        using var missingVersion = await client.GetAsync("/api/predictions?container=images&model=atto@9");
        Assert.Equal(404, (int)missingVersion.StatusCode);
        Assert.Contains("atto@9", await missingVersion.Content.ReadAsStringAsync());
        using var badSyntax = await client.GetAsync("/api/predictions?container=images&model=a@b@c");
        Assert.Equal(400, (int)badSyntax.StatusCode);

        var api = app.Services.GetRequiredService<ServiceApi>();
        var run = await api.CreateValidationRunAsync(new JsonObject { ["model"] = "nosuch@2", ["labels"] = "names" }.ToJsonString(), "http");
        Assert.Equal(404, run.Response.StatusCode);
        Assert.Contains("nosuch@2", ((ApiProblem)run.Response.Body!).Error);

        // A known model's rows are served by ?model=.
        var (cache, _, service) = Services(account, new ModelRepository(account, Options(Path.Combine(Path.GetTempPath(), "convnext-model-tests", Guid.NewGuid().ToString("N")))), Options(""));
        using var _ = cache;
        await service.ScoreAsync(Samples.Select(s => new BlobReference(ContainerNames.Images, s)), Atto);
        var page = JsonNode.Parse(await client.GetStringAsync("/api/predictions?container=images&model=atto@1"))!;
        Assert.Equal(Samples.Length, page["items"]!.AsArray().Count);
        Assert.All(page["items"]!.AsArray(), r => Assert.Equal("atto@1", r!["model"]!.GetValue<string>()));
    }

    [Fact]
    public void The_history_groups_runs_by_model_and_names_an_untrained_one_so()
    {
        static Service.Queries.ValidationRunSummary Run(string id, string model, string sha, bool trained, double top1) =>
            new(id, RunStatus.Completed, "local", model, sha, "validation", "samples/", "names", 40, 1, 40, DateTimeOffset.UtcNow, DateTimeOffset.UtcNow,
                40, 40, 0, top1, top1, 0.5, null, null, null, "local")
            { Model = model, Trained = trained };
        var history = Service.Reports.RunHistoryPage.Build(
            [Run("r1", "atto@1", "aaaaaaaaaaaaaaaa", false, 0.0), Run("r2", "squeezenet@1.1", "bbbbbbbbbbbbbbbb", true, 0.6), Run("r3", "atto@1", "aaaaaaaaaaaaaaaa", false, 0.025)]);
        var models = Assert.Single(history).Models;
        Assert.Equal(["atto@1 (aaaaaaaaaaaa) UNTRAINED", "squeezenet@1.1 (bbbbbbbbbbbb)"], models.Select(m => m.Name));
        Assert.Equal([2, 1], models.Select(m => m.Runs.Count));
    }

    [Theory]
    [InlineData(0, 6, 0.03125)]
    [InlineData(3, 10, 0.0922851562500)] // 2·(1 + 13 + 78 + 286) / 2^13
    [InlineData(5, 5, 1.0)]
    [InlineData(0, 0, 1.0)]
    public void Exact_McNemar_p_value_matches_the_binomial_sum(long b, long c, double expected) =>
        Assert.Equal(expected, Scoring.Evaluation.McNemar.ExactPValue(b, c), 10);

    [Theory]
    [InlineData("squeezenet@1.1", "squeezenet", "1.1")]
    [InlineData("atto", "atto", null)]
    public void References_parse(string text, string name, string? version) =>
        Assert.Equal(new ModelReference(name, version), ModelReference.Parse(text));

    [Theory]
    [InlineData("")]
    [InlineData("a@b@c")]
    [InlineData("Upper@1")]
    [InlineData("default@1")]
    [InlineData("x@")]
    [InlineData("../x@1")]
    public void Bad_references_say_why(string text) =>
        Assert.NotNull(ModelReference.Problem(text));
}
