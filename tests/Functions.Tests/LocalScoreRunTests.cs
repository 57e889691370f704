using Microsoft.Extensions.DependencyInjection;
using Azure.Data.Tables;
using ConvNeXt.Batch.Scoring.Inference;
using ConvNeXt.Batch.Scoring.Labels;
using ConvNeXt.Batch.Scoring.Pipeline;
using ConvNeXt.Batch.Scoring.Preprocessing;
using ConvNeXt.Batch.Service.Local;
using ConvNeXt.Batch.Service.Services;
using ConvNeXt.Batch.Service.Storage;

namespace ConvNeXt.Batch.Functions.Tests;

/// <summary>The CLI's <c>score</c> work: a folder or a container, into a table and/or a sink, on real Azurite and SqueezeNet.</summary>
[Collection(FunctionsCollection.Name)]
public sealed class LocalScoreRunTests(FunctionsFixture fixture) : IDisposable
{
    private static readonly string[] Samples = Directory.GetFiles(Repository.ImagenetSamples, "*.JPEG")
        .Order(StringComparer.Ordinal).Where((_, i) => i % 100 == 3).Take(3).ToArray();

    private readonly ScoringEngine _engine = new(
        ImageClassifier.Load(Repository.SqueezeNet, preprocessing: PreprocessingSettings.Caffe(), labels: ClassLabels.Load(Repository.LabelsFile)),
        new ScoringOptions());
    private readonly string _folder = Directory.CreateTempSubdirectory("score-job-").FullName;
    private readonly List<ScoredRow> _rows = [];
    private readonly List<ScoreProgress> _progress = [];

    public void Dispose()
    {
        _engine.Dispose();
        Directory.Delete(_folder, recursive: true);
    }

    private StorageAccount Account() => new(new StorageOptions { ConnectionString = fixture.ConnectionString });

    private LocalScoreRunOptions Options(string? table) => new()
    {
        Pipeline = new ScoringPipelineOptions { BatchSize = 1, DecodeWorkers = 2 },
        Table = table,
        RowReady = (row, _) =>
        {
            _rows.Add(row);
            return ValueTask.CompletedTask;
        },
        Progress = _progress.Add,
    };

    private static string NewTable() => "LocalScoreRun" + Guid.NewGuid().ToString("N")[..12];

    private async Task<List<PredictionEntity>> TableRowsAsync(string table)
    {
        var rows = new List<PredictionEntity>();
        await foreach (var row in new TableClient(fixture.ConnectionString, table).QueryAsync<PredictionEntity>())
            rows.Add(row);
        return rows;
    }

    [Fact]
    public async Task A_folder_gives_one_row_per_image_in_path_order_to_the_sink_and_the_table()
    {
        var folder = Path.Combine(_folder, "My Photos");
        Directory.CreateDirectory(Path.Combine(folder, "sub"));
        foreach (var (sample, i) in Samples.Select((s, i) => (s, i)))
            File.Copy(sample, Path.Combine(folder, i == 2 ? "sub" : "", $"{i}.jpg"));
        await File.WriteAllTextAsync(Path.Combine(folder, "broken.png"), "not a png");
        await File.WriteAllTextAsync(Path.Combine(folder, "notes.txt"), "not an image by extension");
        var files = Directory.GetFiles(folder, "*", SearchOption.AllDirectories).Order(StringComparer.Ordinal).ToList();
        var table = NewTable();

        var summary = await new LocalScoreRun(_engine, Options(table), Account()).ScoreFilesAsync(folder, files);

        Assert.Equal((4, 1, 1, "notes.txt"), (summary.Images, summary.Errors, summary.NotImages, summary.FirstNotImage));
        Assert.Equal(["0.jpg", "1.jpg", "broken.png", "sub/2.jpg"], _rows.Select(r => r.Source));
        Assert.All(_rows.Where(r => r.Source != "broken.png"), r => Assert.Equal(5, r.Top!.Count));
        Assert.NotNull(Assert.Single(_rows, r => r.Source == "broken.png").Error);
        Assert.Equal(new ScoreProgress(4, 1, 4), _progress[^1]);
        var rows = await TableRowsAsync(table);
        Assert.All(rows, r => Assert.Equal(TableKeys.Escape("My Photos"), r.PartitionKey));
        Assert.Equal(["0.jpg", "1.jpg", "broken.png", "sub/2.jpg"], rows.Select(r => r.BlobName).Order(StringComparer.Ordinal));
        Assert.Equal(1, rows.Count(r => r.Status == RowStatus.Failed));
        Assert.All(rows, r => Assert.Equal("squeezenet1.1-fp16", r.ModelId));
    }

    [Fact]
    public async Task A_folder_without_a_table_needs_no_storage()
    {
        File.Copy(Samples[0], Path.Combine(_folder, "a.jpg"));

        var summary = await new LocalScoreRun(_engine, Options(null)).ScoreFilesAsync(_folder, [Path.Combine(_folder, "a.jpg")]);

        Assert.Equal((1, 0), (summary.Images, summary.Errors));
        Assert.Equal("a.jpg", Assert.Single(_rows).Source);
    }

    [Fact]
    public async Task A_container_without_a_table_lists_reads_and_scores_every_image_blob_under_the_prefix()
    {
        var prefix = $"job-{Guid.NewGuid():N}/";
        foreach (var (sample, i) in Samples.Select((s, i) => (s, i)))
            await fixture.UploadAsync("images", $"{prefix}{i}.jpg", await File.ReadAllBytesAsync(sample));
        await fixture.UploadAsync("images", $"{prefix}readme.md", "# not an image"u8.ToArray());
        await fixture.UploadAsync("images", $"other-{Guid.NewGuid():N}.jpg", await File.ReadAllBytesAsync(Samples[0]));

        var summary = await new LocalScoreRun(_engine, Options(null), Account()).ScoreContainerAsync("images", prefix);

        Assert.Equal((3, 0, 1, $"{prefix}readme.md"), (summary.Images, summary.Errors, summary.NotImages, summary.FirstNotImage));
        Assert.Equal([$"{prefix}0.jpg", $"{prefix}1.jpg", $"{prefix}2.jpg"], _rows.Select(r => r.Source));
        Assert.Equal(new ScoreProgress(3, 0, null), _progress[^1]);
    }

    [Fact]
    public async Task A_container_into_a_table_goes_through_the_scoring_service_and_skips_unchanged_blobs_the_second_time()
    {
        var prefix = $"job-{Guid.NewGuid():N}/";
        foreach (var (sample, i) in Samples.Take(2).Select((s, i) => (s, i)))
            await fixture.UploadAsync("images", $"{prefix}{i}.jpg", await File.ReadAllBytesAsync(sample));
        var table = NewTable();
        var account = Account();
        using var services = ServiceGraph.For(account, _engine);
        var job = new LocalScoreRun(_engine, Options(table), account, services.GetRequiredService<BlobScoringService>());

        var first = await job.ScoreContainerAsync("images", prefix);
        var second = await job.ScoreContainerAsync("images", prefix);

        Assert.Equal((2, 0, 0), (first.Images, first.Errors, first.Unchanged));
        Assert.Equal((0, 0, 2), (second.Images, second.Errors, second.Unchanged));
        Assert.Contains("2 unchanged since they were last scored", second.ToString());
        // The sink hears of every blob both times: scored rows, then the stored rows of the unchanged ones.
        Assert.Equal(4, _rows.Count);
        Assert.All(_rows, r => Assert.Equal(5, r.Top!.Count));
        var rows = await TableRowsAsync(table);
        Assert.Equal([$"{prefix}0.jpg", $"{prefix}1.jpg"], rows.Select(r => r.BlobName).Order(StringComparer.Ordinal));
    }
}
