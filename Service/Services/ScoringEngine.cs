using ConvNeXt.Batch.Service.Models;
using ConvNeXt.Batch.Service.Observability;
using ConvNeXt.Batch.Service.Storage;
using ConvNeXt.Batch.Scoring.Inference;
using ConvNeXt.Batch.Scoring.Labels;
using ConvNeXt.Batch.Scoring.Pipeline;
using ConvNeXt.Batch.Scoring.Preprocessing;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace ConvNeXt.Batch.Service.Services;

/// <summary>What the process scores with, for the health endpoint and the run rows.</summary>
public sealed record ModelInfo(string ModelId, string Sha256, string ExecutionProvider, int ClassCount, string? Architecture,
    double? ReferenceTop1, double? ReferenceTop5, string? ReferenceSource)
{
    /// <summary>Why the loaded model is not pinned to a SHA-256 (a blob model with Model__AllowUnpinned), or null.</summary>
    public string? UnpinnedReason { get; init; }

    /// <summary>SHA-256 of the label table the model scores with (<see cref="Scoring.Labels.ClassLabels.Sha256"/>); null when it has none.</summary>
    public string? LabelsSha256 { get; init; }
}

/// <summary>
/// Owns the one <see cref="ImageClassifier"/> of the process: loaded on first use (from a blob or a
/// local path, verified by SHA-256) and shared by every invocation; each call runs its own
/// <see cref="ScoringPipeline"/> over it.
/// </summary>
public sealed class ScoringEngine : IDisposable
{
    private readonly ModelOptions _model;
    private readonly ScoringOptions _scoring;
    private readonly ModelSource _source;
    private readonly StorageAccount? _storage;
    private readonly ILogger _logger;
    private readonly SemaphoreSlim _gate = new(1, 1);
    private ImageClassifier? _classifier;

    public ScoringEngine(ModelOptions model, ScoringOptions scoring, StorageAccount? storage, ILogger<ScoringEngine>? logger = null)
    {
        _model = model;
        _scoring = scoring;
        _storage = storage;
        _source = new ModelSource(storage);
        _logger = (ILogger?)logger ?? NullLogger.Instance;
    }

    /// <summary>Wraps an already loaded classifier (the CLI's local runs); the engine then owns it.</summary>
    public ScoringEngine(ImageClassifier classifier, ScoringOptions scoring)
        : this(new ModelOptions(), scoring, null) => _classifier = classifier;

    public bool IsLoaded => _classifier is not null;

    public async Task<ImageClassifier> GetClassifierAsync(CancellationToken cancellationToken = default)
    {
        if (_classifier is { } loaded)
            return loaded;
        await _gate.WaitAsync(cancellationToken);
        try
        {
            if (_classifier is not null)
                return _classifier;
            if (string.IsNullOrWhiteSpace(_model.Location))
                throw new ModelIntegrityException("no model configured: set Model__Location to a local .onnx path or a blob path models/<file>.onnx");
            using var span = PipelineTracing.StartStage("model.load");
            span?.SetTag("convnext.model.location", _model.Location);
            var path = await _source.ResolveAsync(_model.Location, _model.Sha256, _model.CacheDirectory, _model.AllowUnpinned, cancellationToken);
            if (ModelSource.UnpinnedReason(_model.Location, _model.Sha256) is { } unpinned)
                _logger.LogWarning("loading an unpinned model: {Reason}", unpinned);
            var labels = await LoadLabelsAsync(cancellationToken);
            var classifier = ImageClassifier.Load(path, new InferenceOptions
            {
                Device = _scoring.Device,
                IntraOpThreads = _scoring.IntraOpThreads,
                Warning = w => _logger.LogWarning("model load: {Warning}", w),
            }, ParsePreprocessing(_model.Preprocessing), labels);
            _logger.LogInformation("loaded model {ModelId} sha256 {ModelSha256} on {ExecutionProvider}",
                classifier.ModelId, classifier.ModelSha256, classifier.ExecutionProvider);
            ExecutionProviderMetric.Record(classifier.ExecutionProvider, classifier.ModelId, classifier.ModelSha256);
            _classifier = classifier;
            return classifier;
        }
        finally
        {
            _gate.Release();
        }
    }

    public async Task<ModelInfo> GetModelInfoAsync(CancellationToken cancellationToken = default)
    {
        var c = await GetClassifierAsync(cancellationToken);
        var reference = c.Metadata.ReferenceAccuracy;
        return new ModelInfo(c.ModelId, c.ModelSha256, c.ExecutionProvider, c.ClassCount, c.Metadata.Architecture,
            reference?.Top1, reference?.Top5, reference?.Source)
        {
            UnpinnedReason = ModelSource.UnpinnedReason(_model.Location, _model.Sha256),
            LabelsSha256 = c.Labels?.Sha256,
        };
    }

    /// <summary>The label table of the model (its metadata or <c>Model__Labels</c>).</summary>
    public async Task<ClassLabels> GetLabelsAsync(CancellationToken cancellationToken = default) =>
        (await GetClassifierAsync(cancellationToken)).Labels
        ?? throw new ModelIntegrityException("the model has no class labels: set Model__Labels to a label table (e.g. LOC_synset_mapping.txt)");

    /// <summary>Scores <paramref name="inputs"/>; exactly one result per input, in completion order.</summary>
    public async IAsyncEnumerable<ScoredImage> ScoreAsync(IAsyncEnumerable<ImageInput> inputs,
        [System.Runtime.CompilerServices.EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        ImageClassifier classifier;
        try
        {
            classifier = await GetClassifierAsync(cancellationToken);
        }
        catch (Exception e) when (!cancellationToken.IsCancellationRequested)
        {
            // The alert rule health-unhealthy matches this line (Infrastructure/modules/alerts.bicep).
            _logger.LogError("model load failed: {Error}", e.Message);
            // The invocation fails (transient) either way; holding its messages a while first spreads the
            // redeliveries of a model that cannot load over minutes instead of burning them in seconds.
            if (_scoring.LoadFailureDelaySeconds > 0)
                await Task.Delay(TimeSpan.FromSeconds(_scoring.LoadFailureDelaySeconds), cancellationToken);
            throw;
        }
        var pipeline = new ScoringPipeline(classifier, new ScoringPipelineOptions
        {
            BatchSize = Math.Max(1, _scoring.BatchSize),
            MaxWait = TimeSpan.FromMilliseconds(Math.Max(0, _scoring.MaxWaitMilliseconds)),
            DecodeWorkers = _scoring.DecodeWorkers > 0 ? _scoring.DecodeWorkers : Environment.ProcessorCount,
            ReadConcurrency = Math.Max(1, _scoring.DownloadConcurrency),
            TopK = 5,
            Tracing = PipelineTracing.Source,
            ImageSpans = _scoring.ImageSpans,
        });
        using var span = PipelineTracing.StartStage("batch");
        var images = 0;
        await foreach (var result in pipeline.RunAsync(inputs, cancellationToken))
        {
            images++;
            yield return result;
        }
        span?.SetTag("convnext.images", images);
    }

    public static PreprocessingSettings? ParsePreprocessing(string? name) => name?.Trim().ToLowerInvariant() switch
    {
        null or "" => null,
        "timm" => PreprocessingSettings.Timm(),
        "mindcv" => PreprocessingSettings.MindCv(),
        "torchvision" => PreprocessingSettings.Torchvision(),
        "caffe" => PreprocessingSettings.Caffe(),
        _ => throw new ModelIntegrityException($"Model__Preprocessing '{name}' is not one of timm, mindcv, torchvision, caffe"),
    };

    private async Task<ClassLabels?> LoadLabelsAsync(CancellationToken cancellationToken)
    {
        if (string.IsNullOrWhiteSpace(_model.Labels))
            return null;
        if (File.Exists(_model.Labels))
            return ClassLabels.Load(_model.Labels);
        if (_storage is null)
            throw new ModelIntegrityException($"label table '{_model.Labels}' is not a local file and no storage account is configured");
        var trimmed = _model.Labels.TrimStart('/');
        var slash = trimmed.IndexOf('/');
        if (slash <= 0)
            throw new ModelIntegrityException($"label table '{_model.Labels}' is neither a local file nor a blob path '<container>/<blob>'");
        var blob = _storage.Container(trimmed[..slash]).GetBlobClient(trimmed[(slash + 1)..]);
        var text = await _storage.Resilience.ExecuteAsync(async ct => (await blob.DownloadContentAsync(ct)).Value.Content.ToString(), cancellationToken);
        return ClassLabels.Parse(text.Split('\n'), _model.Labels);
    }

    public void Dispose()
    {
        _classifier?.Dispose();
        _gate.Dispose();
    }
}
