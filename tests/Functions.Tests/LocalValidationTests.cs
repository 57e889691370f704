using Microsoft.Extensions.DependencyInjection;
using ConvNeXt.Batch.Scoring.Evaluation;
using ConvNeXt.Batch.Scoring.Inference;
using ConvNeXt.Batch.Scoring.Labels;
using ConvNeXt.Batch.Scoring.Pipeline;
using ConvNeXt.Batch.Scoring.Preprocessing;
using ConvNeXt.Batch.Service.Contracts;
using ConvNeXt.Batch.Service.Local;
using ConvNeXt.Batch.Service.Queries;
using ConvNeXt.Batch.Service.Services;
using ConvNeXt.Batch.Service.Storage;
using ConvNeXt.Batch.Service.Uploads;
using ConvNeXt.Batch.Service.Validation;

namespace ConvNeXt.Batch.Functions.Tests;

/// <summary>The CLI's <c>validate</c> and <c>demo</c> work (<see cref="LocalValidation"/>, <see cref="Quickstart"/>) on real Azurite and SqueezeNet.</summary>
[Collection(FunctionsCollection.Name)]
public sealed class LocalValidationTests(FunctionsFixture fixture) : IDisposable
{
    private static readonly ClassLabels Labels = ClassLabels.Load(Repository.LabelsFile);

    private readonly ScoringEngine _engine = new(
        ImageClassifier.Load(Repository.SqueezeNet, preprocessing: PreprocessingSettings.Caffe(), labels: Labels), new ScoringOptions());
    private readonly string _folder = Directory.CreateTempSubdirectory("validation-job-").FullName;

    public void Dispose()
    {
        _engine.Dispose();
        Directory.Delete(_folder, recursive: true);
    }

    /// <summary>Eight labelled photos (<c>&lt;wnid&gt;_name.JPEG</c>) of eight classes, and one broken file with a label.</summary>
    private string LabelledFolder()
    {
        var folder = Directory.CreateDirectory(Path.Combine(_folder, $"set{Guid.NewGuid():N}"[..12])).FullName;
        foreach (var file in Directory.GetFiles(Repository.ImagenetSamples, "*.JPEG").Order(StringComparer.Ordinal).Where((_, i) => i % 125 == 1))
            File.Copy(file, Path.Combine(folder, Path.GetFileName(file)));
        File.WriteAllText(Path.Combine(folder, "n01440764_broken.JPEG"), "not a jpeg");
        return folder;
    }

    private StorageAccount Account() => new(new StorageOptions { ConnectionString = fixture.ConnectionString });

    [Fact]
    public async Task A_recorded_run_measures_what_a_local_run_measures()
    {
        var data = LabelledDataset.Open(LabelledFolder(), Labels);
        var job = new LocalValidation(_engine, new LocalValidationOptions
        {
            Pipeline = new ScoringPipelineOptions { BatchSize = 4, DecodeWorkers = 2 },
            Confused = 100, // every pair: with one image per class all counts tie, and ties may be ordered differently
        });
        var scored = 0;

        var local = await job.EvaluateAsync(data, () => scored++);

        var account = Account();
        await account.EnsureTablesAsync();
        var request = await new ImageUploader(account, new ImageUploadOptions()).UploadLabelledAsync(data, "validation", chunkSize: 4);
        using var services = ServiceGraph.For(account, _engine, new Dictionary<string, string?> { ["Validation:ChunkSize"] = "4" });
        var runs = services.GetRequiredService<ValidationRunService>();
        var recorded = await job.RecordAsync(runs, request);

        Assert.Equal((9, 1), (local.Count, local.Errors));
        Assert.Equal(9, scored);
        Assert.Null(local.RunId);
        Assert.NotNull(recorded.RunId);
        Assert.Equal((local.Count, local.Errors), (recorded.Count, recorded.Errors));
        Assert.Equal(local.Top1, recorded.Top1, 6);
        Assert.Equal(local.Top5, recorded.Top5, 6);
        Assert.Equal(local.MeanConfidence, recorded.MeanConfidence, 4);
        Assert.Equal(local.PerClass.Where(c => c.Images > 0).OrderBy(c => c.Index), recorded.PerClass.Where(c => c.Images > 0).OrderBy(c => c.Index));
        Assert.Equal(8, local.PerClass.Count(c => c.Images > 0));
        Assert.Equal(local.Confused.OrderBy(p => (p.Actual, p.Predicted)), recorded.Confused.OrderBy(p => (p.Actual, p.Predicted)));
        var run = await services.GetRequiredService<ValidationQueries>().GetRunAsync(recorded.RunId!, Labels);
        Assert.Equal(RunStatus.Completed, run!.Run.Status);
    }

    [Fact]
    public async Task A_recorded_run_over_a_missing_label_list_is_a_dataset_error()
    {
        var account = Account();
        await account.EnsureTablesAsync();
        using var services = ServiceGraph.For(account, _engine);
        var runs = services.GetRequiredService<ValidationRunService>();
        var job = new LocalValidation(_engine, new LocalValidationOptions { Pipeline = new ScoringPipelineOptions() });

        await Assert.ThrowsAsync<DatasetException>(() => job.RecordAsync(runs,
            new ValidationRunRequest { Container = "validation", Prefix = "nothing-here/", Labels = "labels/no-such-list.txt" }));
    }

    [Fact]
    public async Task The_quickstart_uploads_scores_the_drop_zone_and_validates_the_samples()
    {
        var files = Directory.GetFiles(LabelledFolder()).Where(f => !f.Contains("broken", StringComparison.Ordinal)).Order(StringComparer.Ordinal).Take(4).ToList();
        var account = Account();
        using var services = ServiceGraph.For(account, _engine, new Dictionary<string, string?> { ["Validation:ChunkSize"] = "2" });
        var job = new Quickstart(account, services.GetRequiredService<ImageUploader>(), services.GetRequiredService<BlobScoringService>(),
            services.GetRequiredService<ValidationRunService>(), services.GetRequiredService<ValidationQueries>(), new QuickstartOptions
            {
                BlobsPerCall = 3,
                // Containers of its own: scoring the shared drop zone would write rows other tests look for.
                DropZone = $"drop-{Guid.NewGuid():N}"[..20],
                ValidationContainer = $"val-{Guid.NewGuid():N}"[..20],
            });
        var uploaded = new List<long>();
        var scoredProgress = new List<ScoreProgress>();
        var validatedProgress = new List<ScoreProgress>();

        await job.UploadAsync(files, new Counter(uploaded));
        var summary = await job.ScoreDropZoneAsync(scoredProgress.Add);
        var report = await job.ValidateSamplesAsync(Labels, validatedProgress.Add);

        Assert.Equal(8, uploaded.Max()); // both passes: the drop zone, then validation/samples/
        Assert.Equal((4, 0), (summary.Images, summary.Errors));
        Assert.Equal(new ScoreProgress(4, 0, 4), scoredProgress[^1]);
        Assert.Equal(2, scoredProgress.Count(p => p.Done > 0)); // 4 blobs, 3 per call
        Assert.Equal(RunStatus.Completed, report.Run.Status);
        Assert.Equal(4, report.Run.ImageCount);
        Assert.Equal(new ScoreProgress(4, 0, 4), validatedProgress[^1]);
        Assert.Equal(report.Run.ChunkCount, report.ChunksDone);
    }

    private sealed class Counter(List<long> values) : IProgress<long>
    {
        public void Report(long value)
        {
            lock (values)
                values.Add(value);
        }
    }
}
