using ConvNeXt.Batch.Service.Contracts;
using ConvNeXt.Batch.Service.Queries;
using ConvNeXt.Batch.Service.Services;
using ConvNeXt.Batch.Service.Storage;
using ConvNeXt.Batch.Service.Uploads;
using ConvNeXt.Batch.Scoring.Labels;

namespace ConvNeXt.Batch.Service.Local;

/// <summary>
/// The quick start's storage work (the CLI's <c>demo</c>), each step as the cloud path does it: sample
/// images into the drop zone (<c>images</c>) and into <c>validation/samples/</c>; the drop zone scored
/// into <c>Predictions</c> by the ScoreImages service; a validation run over the samples, chunk by
/// chunk as Service Bus would deliver them.
/// </summary>
public sealed class Quickstart(StorageAccount storage, ImageUploader uploader, BlobScoringService scoring,
    ValidationRunService validation, ValidationQueries queries, QuickstartOptions options)
{
    /// <summary>Where the samples go in the validation container.</summary>
    public const string SamplesPrefix = "samples/";

    /// <summary>
    /// Creates the tables, then uploads <paramref name="files"/> to the drop zone and under
    /// <see cref="SamplesPrefix"/>; <paramref name="progress"/> counts both passes (2 × files).
    /// </summary>
    public async Task UploadAsync(IReadOnlyList<string> files, IProgress<long>? progress = null, CancellationToken cancellationToken = default)
    {
        await storage.EnsureTablesAsync(cancellationToken);
        var drop = files.Select(f => new UploadItem(f, Path.GetFileName(f))).ToList();
        var samples = files.Select(f => new UploadItem(f, SamplesPrefix + Path.GetFileName(f))).ToList();
        await uploader.UploadAsync(options.DropZone, drop, progress, cancellationToken);
        await uploader.UploadAsync(options.ValidationContainer, samples, progress is null ? null : new Offset(progress, files.Count), cancellationToken);
    }

    /// <summary>Scores every blob of the drop zone exactly as the ScoreImages function does, <see cref="QuickstartOptions.BlobsPerCall"/> per call.</summary>
    public async Task<ScoreSummary> ScoreDropZoneAsync(Action<ScoreProgress>? progress = null, CancellationToken cancellationToken = default)
    {
        var clock = System.Diagnostics.Stopwatch.StartNew();
        var blobs = new List<BlobReference>();
        await foreach (var item in storage.Container(options.DropZone).GetBlobsAsync(cancellationToken: cancellationToken))
            blobs.Add(new BlobReference(options.DropZone, item.Name, item.Properties.ETag?.ToString(), item.Properties.ContentLength));
        long done = 0, failed = 0;
        progress?.Invoke(new ScoreProgress(0, 0, blobs.Count));
        foreach (var slice in blobs.Chunk(options.BlobsPerCall))
        {
            var result = await scoring.ScoreAsync(slice, cancellationToken);
            done += result.Outcomes.Count;
            failed += result.Failed;
            progress?.Invoke(new ScoreProgress(done, failed, blobs.Count));
        }
        return new ScoreSummary(done, failed, clock.Elapsed);
    }

    /// <summary>A validation run over the samples (labels from the file names), chunk by chunk; its report names classes from <paramref name="labels"/>.</summary>
    public async Task<ValidationRunReport> ValidateSamplesAsync(ClassLabels labels, Action<ScoreProgress>? progress = null,
        CancellationToken cancellationToken = default)
    {
        var plan = await validation.CreateRunAsync(
            new ValidationRunRequest { Container = options.ValidationContainer, Prefix = SamplesPrefix, Labels = "names" }, "local", cancellationToken);
        long done = 0, failed = 0;
        progress?.Invoke(new ScoreProgress(0, 0, plan.Run.ExpectedImageCount));
        foreach (var chunk in plan.Chunks)
        {
            var outcome = await validation.ScoreChunkAsync(chunk, "local", cancellationToken);
            done += outcome.Scored + outcome.Failed;
            failed += outcome.Failed;
            progress?.Invoke(new ScoreProgress(done, failed, plan.Run.ExpectedImageCount));
        }
        return await queries.GetRunAsync(plan.Run.RunId, labels, cancellationToken)
            ?? throw new InvalidOperationException($"validation run {plan.Run.RunId} vanished");
    }

    private sealed class Offset(IProgress<long> inner, long offset) : IProgress<long>
    {
        public void Report(long value) => inner.Report(offset + value);
    }
}
