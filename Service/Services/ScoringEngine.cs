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
    /// <summary>The repository model (<c>NAME@VERSION</c>), or null for the model the app was deployed with (<c>Model__Location</c>).</summary>
    public ModelReference? Reference { get; init; }

    /// <summary>False for random weights (runs and reports say UNTRAINED); null when the model does not say.</summary>
    public bool? Trained { get; init; }
}

/// <summary>
/// Owns the one <see cref="ImageClassifier"/> of the process: loaded on first use (from a blob or a
/// local path, verified by SHA-256) and shared by every invocation; each call runs its own
/// <see cref="ScoringPipeline"/> over it. With a <see cref="ModelCache"/>, it also scores with repository
/// models by reference (<c>NAME@VERSION</c>), and an unnamed call follows the <c>default</c> alias when one is set.
/// </summary>
public sealed class ScoringEngine : IDisposable
{
    private readonly ModelOptions _model;
    private readonly ScoringOptions _scoring;
    private readonly ModelSource _source;
    private readonly StorageAccount? _storage;
    private readonly ILogger _logger;
    private readonly ModelCache? _models;
    private readonly ModelManifest? _fixedModel;
    private readonly SemaphoreSlim _gate = new(1, 1);
    private ImageClassifier? _classifier;

    /// <param name="models">The repository models this engine can score with (null: only the deployed model).</param>
    public ScoringEngine(ModelOptions model, ScoringOptions scoring, StorageAccount? storage, ILogger<ScoringEngine>? logger = null, ModelCache? models = null)
    {
        _models = models;
        _model = model;
        _scoring = scoring;
        _storage = storage;
        _source = new ModelSource(storage);
        _logger = (ILogger?)logger ?? NullLogger.Instance;
    }

    /// <summary>Wraps an already loaded classifier (the CLI's local runs); the engine then owns it.</summary>
    public ScoringEngine(ImageClassifier classifier, ScoringOptions scoring)
        : this(new ModelOptions(), scoring, null) => _classifier = classifier;

    /// <summary>
    /// Wraps a repository model the caller loaded (the CLI's <c>score --model NAME@VERSION</c>): the engine then
    /// scores as that model (its rows, partition and reference), and owns the classifier.
    /// </summary>
    public ScoringEngine(ImageClassifier classifier, ScoringOptions scoring, ModelManifest manifest)
        : this(classifier, scoring) => _fixedModel = manifest;

    public bool IsLoaded => _classifier is not null;

    /// <summary>Whether this engine has a deployed model (<c>Model__Location</c>, or a loaded classifier), besides any repository models.</summary>
    public bool HasDeployedModel => _classifier is not null || !string.IsNullOrWhiteSpace(_model.Location);

    /// <summary>The repository models, when this engine has them.</summary>
    public ModelCache? Models => _models;

    /// <summary>
    /// The exact model a call scores with: <paramref name="requested"/> resolved (<c>NAME</c> → its alias), or for
    /// none the <c>default</c> alias; null means the deployed model (no repository, or nothing promoted yet).
    /// Resolved once per call, so every row of a call names the model that scored it, whatever a promote does meanwhile.
    /// </summary>
    /// <exception cref="ModelNotFoundException">An unknown model, version or alias.</exception>
    public async Task<ModelReference?> ResolveAsync(ModelReference? requested, CancellationToken cancellationToken = default)
    {
        if (_fixedModel is { } fixedModel)
            return requested is null || requested == fixedModel.Reference || requested == new ModelReference(fixedModel.Name, null) ? fixedModel.Reference
                : throw new ModelNotFoundException($"model {requested} cannot be used here: this engine scores with {fixedModel.Reference}");
        if (_models is null)
            return requested is null ? null
                : throw new ModelNotFoundException($"model {requested} cannot be used here: no model repository is configured");
        if (requested is not null)
            return await _models.Repository.ResolveAsync(requested, cancellationToken);
        if (await _models.Repository.GetDefaultAsync(cancellationToken) is { } promoted)
            return promoted;
        return null;
    }

    /// <summary>What <paramref name="model"/> is (null: the deployed model); loads it if needed.</summary>
    public async Task<ModelInfo> GetModelInfoAsync(ModelReference? model, CancellationToken cancellationToken = default)
    {
        if (model is null)
            return await GetModelInfoAsync(cancellationToken);
        using var lease = await AcquireAsync(model, cancellationToken);
        var c = lease.Classifier;
        var m = lease.Manifest;
        return Describe(c, m);
    }

    private static ModelInfo Describe(ImageClassifier c, ModelManifest m)
    {
        return new ModelInfo(c.ModelId, c.ModelSha256, c.ExecutionProvider, c.ClassCount, m.Architecture ?? c.Metadata.Architecture,
            m.ReferenceTop1, m.ReferenceTop5, m.ReferenceSource)
        {
            Reference = m.Reference,
            Trained = m.Trained,
        };
    }

    /// <summary>The label table of <paramref name="model"/> (null: the deployed model).</summary>
    public async Task<ClassLabels> GetLabelsAsync(ModelReference? model, CancellationToken cancellationToken = default)
    {
        if (model is null)
            return await GetLabelsAsync(cancellationToken);
        using var lease = await AcquireAsync(model, cancellationToken);
        return lease.Classifier.Labels
            ?? throw new ModelIntegrityException($"model {model} has no class labels: push it again with --labels");
    }

    private async Task<ModelLease> AcquireAsync(ModelReference model, CancellationToken cancellationToken)
    {
        if (_fixedModel is { } fixedModel && await ResolveAsync(model, cancellationToken) == fixedModel.Reference)
            return new ModelLease(fixedModel, await GetClassifierAsync(cancellationToken), () => { });
        if (_models is null)
            throw new ModelNotFoundException($"model {model} cannot be used here: no model repository is configured");
        return await _models.AcquireAsync(await _models.Repository.ResolveAsync(model, cancellationToken), cancellationToken);
    }

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
            Trained = c.Metadata.Trained,
        };
    }

    /// <summary>The label table of the model (its metadata or <c>Model__Labels</c>).</summary>
    public async Task<ClassLabels> GetLabelsAsync(CancellationToken cancellationToken = default) =>
        (await GetClassifierAsync(cancellationToken)).Labels
        ?? throw new ModelIntegrityException("the model has no class labels: set Model__Labels to a label table (e.g. LOC_synset_mapping.txt)");

    /// <summary>Scores <paramref name="inputs"/>; exactly one result per input, in completion order.</summary>
    public IAsyncEnumerable<ScoredImage> ScoreAsync(IAsyncEnumerable<ImageInput> inputs, CancellationToken cancellationToken = default) =>
        ScoreAsync(inputs, null, cancellationToken);

    /// <summary>
    /// Scores <paramref name="inputs"/> with <paramref name="model"/> (null: the deployed model); the model stays
    /// loaded while the call runs. Exactly one result per input, in completion order.
    /// </summary>
    public async IAsyncEnumerable<ScoredImage> ScoreAsync(IAsyncEnumerable<ImageInput> inputs, ModelReference? model,
        [System.Runtime.CompilerServices.EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        using var lease = model is null ? null : await AcquireAsync(model, cancellationToken);
        ImageClassifier classifier;
        try
        {
            classifier = lease?.Classifier ?? await GetClassifierAsync(cancellationToken);
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
            Limits = Scoring.Preprocessing.ImageLimits.Default with { DecodeTimeout = TimeSpan.FromMilliseconds(_scoring.DecodeTimeoutMilliseconds) },
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
