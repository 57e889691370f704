using System.Diagnostics;
using ConvNeXt.Batch.Scoring.Inference;
using ConvNeXt.Batch.Scoring.Pipeline;
using ConvNeXt.Batch.Scoring.Preprocessing;

namespace ConvNeXt.Batch.Scoring.Benchmarking;

/// <summary>
/// Model-only throughput (preprocessed tensors, fixed batch), preprocessing throughput on one core,
/// and end-to-end <see cref="ScoringPipeline"/> throughput on real files, at the same batch size in
/// one run; for several models, the same for each and their ratios to the first.
/// </summary>
/// <param name="loadModel">Loads a model path (every model with the same device, threads and preprocessing overrides); the benchmark disposes it.</param>
/// <param name="pipelineOptions">The pipeline settings for a model at a batch size.</param>
/// <param name="warn">Told when a model cannot run the requested batch size.</param>
public sealed class ThroughputBenchmark(ThroughputBenchmarkOptions options, Func<string, ImageClassifier> loadModel,
    Func<ImageClassifier, int, ScoringPipelineOptions> pipelineOptions, Action<string>? warn = null)
{
    public async Task<BenchReport> RunAsync(CancellationToken ct = default)
    {
        var encoded = options.Files.Select(File.ReadAllBytes).ToList();
        var models = new List<LoadedModel>();
        try
        {
            foreach (var path in options.Models)
            {
                var model = new LoadedModel(loadModel(path));
                models.Add(model);
                (model.Tensors, model.PreprocessPerCore) = Preprocess(model.Classifier.Preprocessing, encoded);
            }
            var runs = new List<BenchResult>();
            foreach (var requested in options.BatchSizes)
                runs.AddRange(await MeasureAsync(models, requested, ct));
            return new BenchReport(runs, Ratios(runs), Profiles(models));
        }
        finally
        {
            foreach (var model in models)
                model.Classifier.Dispose();
        }
    }

    /// <summary>Linear interpolation between the closest ranks of an ascending list (NaN when empty).</summary>
    public static double Percentile(IReadOnlyList<double> sorted, double p)
    {
        if (sorted.Count == 0)
            return double.NaN;
        var rank = p * (sorted.Count - 1);
        var low = (int)Math.Floor(rank);
        var high = (int)Math.Ceiling(rank);
        return sorted[low] + (sorted[high] - sorted[low]) * (rank - low);
    }

    /// <summary>Every model after the first against the first, at each batch size.</summary>
    public static IReadOnlyList<BenchRatio> Ratios(IReadOnlyList<BenchResult> runs)
    {
        var ratios = new List<BenchRatio>();
        foreach (var run in runs.Where(r => r.Model != runs[0].Model))
        {
            var baseline = runs.First(b => b.Model == runs[0].Model && b.RequestedBatchSize == run.RequestedBatchSize);
            ratios.Add(new BenchRatio(run.Model, baseline.Model, run.BatchSize,
                Math.Round(run.ModelOnlyImgS / baseline.ModelOnlyImgS, 3), Math.Round(run.EndToEndImgS / baseline.EndToEndImgS, 3),
                Math.Round(baseline.ModelOnlyCpuMsPerImage / run.ModelOnlyCpuMsPerImage, 3)));
        }
        return ratios;
    }

    private List<BenchProfile> Profiles(List<LoadedModel> models)
    {
        var profiles = new List<BenchProfile>();
        if (options.ProfileDirectory is not null)
            foreach (var model in models)
            {
                var path = model.Classifier.EndProfiling();
                profiles.Add(new BenchProfile(model.Classifier.ModelId, path, OperatorProfile.Summarize(path)));
            }
        return profiles;
    }

    /// <summary>Decode + resize + crop + normalize on one core, sequentially: the tensors for model-only runs and the rate.</summary>
    private static (List<float[]> Tensors, double PerCore) Preprocess(PreprocessingSettings preprocessing, List<byte[]> encoded)
    {
        var preprocessor = new ImagePreprocessor(preprocessing);
        var tensors = new List<float[]>();
        var clock = Stopwatch.StartNew();
        foreach (var bytes in encoded)
        {
            var tensor = new float[preprocessing.TensorLength];
            try
            {
                preprocessor.Preprocess(bytes, tensor);
                tensors.Add(tensor);
            }
            catch (ImageRejectedException)
            {
                // Counted by the end-to-end pass as error rows; model-only needs only decodable images.
            }
        }
        if (tensors.Count == 0)
            throw new InvalidDataException("none of the images could be decoded");
        return (tensors, tensors.Count / clock.Elapsed.TotalSeconds);
    }

    /// <summary>
    /// Every model at one batch size. With several models and rounds, the models take turns
    /// (A, B, A, B, …) and each figure is the median over its rounds, so a load that comes and goes
    /// on a shared machine falls on all of them alike.
    /// </summary>
    private async Task<List<BenchResult>> MeasureAsync(List<LoadedModel> models, int requested, CancellationToken ct)
    {
        var runs = models.Select(m => Prepare(m, requested)).ToList();
        using (var self = Process.GetCurrentProcess())
            for (var round = 0; round < options.Rounds; round++)
                foreach (var run in runs)
                    MeasureModelOnly(run, self, ct);
        for (var round = 0; round < options.Rounds; round++)
            foreach (var run in runs)
                await MeasureEndToEndAsync(run, ct);

        using var process = Process.GetCurrentProcess();
        process.Refresh();
        return runs.Select(run => Result(run, requested, process.PeakWorkingSet64)).ToList();
    }

    /// <summary>The model's input batch of real tensors (repeated to fill it), its output buffer, and the warm-up.</summary>
    private BatchRun Prepare(LoadedModel model, int requested)
    {
        var classifier = model.Classifier;
        var batch = classifier.FixedBatchSize ?? requested;
        if (batch != requested)
            warn?.Invoke($"{classifier.ModelId} has a fixed batch size of {batch}: --batch-size {requested} cannot apply, measuring batch {batch}");
        var length = classifier.TensorLength;
        var input = new float[batch * length];
        for (var i = 0; i < batch; i++)
            model.Tensors[i % model.Tensors.Count].CopyTo(input, i * length);
        var output = new float[batch * classifier.ClassCount];
        for (var i = 0; i < options.Warmup; i++)
            classifier.Predict(input, batch, output);
        var iterations = options.Iterations ?? Math.Max(4, (options.Files.Count * options.Repeat + batch - 1) / batch);
        return new BatchRun(model, batch, iterations, input, output);
    }

    /// <summary>
    /// A fixed batch of real preprocessed tensors, timed batch by batch. Process CPU time counts the
    /// work, not the waiting for a core (ORT threads do not spin).
    /// </summary>
    private static void MeasureModelOnly(BatchRun run, Process self, CancellationToken ct)
    {
        self.Refresh();
        var cpuBefore = self.TotalProcessorTime;
        var clock = Stopwatch.StartNew();
        for (var i = 0; i < run.Iterations; i++)
        {
            ct.ThrowIfCancellationRequested();
            var start = Stopwatch.GetTimestamp();
            run.Model.Classifier.Predict(run.Input, run.Batch, run.Output);
            run.Latencies.Add(Stopwatch.GetElapsedTime(start).TotalMilliseconds);
        }
        var images = run.Iterations * run.Batch;
        run.ModelOnly.Add(images / clock.Elapsed.TotalSeconds);
        self.Refresh();
        run.CpuPerImage.Add((self.TotalProcessorTime - cpuBefore).TotalMilliseconds / images);
    }

    /// <summary>The scoring pipeline over the files, their bytes read from disk each time.</summary>
    private async Task MeasureEndToEndAsync(BatchRun run, CancellationToken ct)
    {
        run.Pipeline = pipelineOptions(run.Model.Classifier, run.Batch);
        var pipeline = new ScoringPipeline(run.Model.Classifier, run.Pipeline);
        var clock = Stopwatch.StartNew();
        long count = 0, failed = 0;
        await foreach (var result in pipeline.RunAsync(Inputs(options.Files, options.Repeat), ct))
        {
            count++;
            if (result.Error is not null)
                failed++;
        }
        run.EndToEnd.Add(count / clock.Elapsed.TotalSeconds);
        (run.Scored, run.Errors) = (count, failed);
    }

    private BenchResult Result(BatchRun run, int requested, long peakWorkingSet)
    {
        var classifier = run.Model.Classifier;
        run.Latencies.Sort();
        var (modelOnly, endToEnd) = (Median(run.ModelOnly), Median(run.EndToEnd));
        return new BenchResult(
            classifier.ModelId, classifier.Metadata.Architecture, classifier.ExecutionProvider, run.Batch, requested,
            Environment.ProcessorCount, options.IntraOpThreads, run.Pipeline!.DecodeWorkers, options.Files.Count,
            Math.Round(modelOnly, 2), Math.Round(Median(run.CpuPerImage), 1), Math.Round(endToEnd, 2), Math.Round(endToEnd / modelOnly, 3),
            Math.Round(run.Model.PreprocessPerCore, 2), run.Iterations * options.Rounds, run.Scored, run.Errors,
            new BenchLatency(Math.Round(Percentile(run.Latencies, 0.50), 2), Math.Round(Percentile(run.Latencies, 0.95), 2), Math.Round(Percentile(run.Latencies, 0.99), 2)),
            peakWorkingSet, GC.GetGCMemoryInfo().HeapSizeBytes, GC.GetTotalAllocatedBytes());
    }

    private static double Median(List<double> values) => Percentile(values.Order().ToList(), 0.5);

    private static async IAsyncEnumerable<ImageInput> Inputs(IReadOnlyList<string> files, int repeats)
    {
        await Task.Yield();
        for (var r = 0; r < repeats; r++)
            foreach (var file in files)
                yield return new ImageInput(r == 0 ? file : $"{file}#{r}", async ct => await File.ReadAllBytesAsync(file, ct));
    }

    /// <summary>A loaded model and its preprocessed tensors, kept across batch sizes.</summary>
    private sealed class LoadedModel(ImageClassifier classifier)
    {
        public ImageClassifier Classifier { get; } = classifier;
        public List<float[]> Tensors { get; set; } = [];
        public double PreprocessPerCore { get; set; }
    }

    /// <summary>One model at one batch size: its buffers and what each round measured.</summary>
    private sealed class BatchRun(LoadedModel model, int batch, int iterations, float[] input, float[] output)
    {
        public LoadedModel Model { get; } = model;
        public int Batch { get; } = batch;
        public int Iterations { get; } = iterations;
        public float[] Input { get; } = input;
        public float[] Output { get; } = output;
        public List<double> Latencies { get; } = [];
        public List<double> ModelOnly { get; } = [];
        public List<double> CpuPerImage { get; } = [];
        public List<double> EndToEnd { get; } = [];
        public ScoringPipelineOptions? Pipeline { get; set; }
        public long Scored { get; set; }
        public long Errors { get; set; }
    }
}
