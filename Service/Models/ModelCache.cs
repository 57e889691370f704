using ConvNeXt.Batch.Scoring.Inference;
using ConvNeXt.Batch.Scoring.Labels;
using ConvNeXt.Batch.Service.Services;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace ConvNeXt.Batch.Service.Models;

/// <summary>
/// The repository models a worker has loaded, at most <see cref="ModelRepositoryOptions.MaxLoaded"/> at
/// once: loaded on first use by reference (file verified against the manifest first), the least recently
/// used one unloaded when another is needed. A model in use is unloaded when its last lease ends.
/// </summary>
public sealed class ModelCache(ModelRepository repository, ScoringOptions scoring, ModelRepositoryOptions options, ILogger<ModelCache>? logger) : IDisposable
{
    private readonly ILogger _logger = (ILogger?)logger ?? NullLogger.Instance;
    private readonly SemaphoreSlim _loading = new(1, 1);
    private readonly Lock _gate = new();
    // Most recently used last.
    private readonly LinkedList<Entry> _loaded = new();

    public ModelRepository Repository => repository;

    /// <summary>The references loaded now, least recently used first.</summary>
    public IReadOnlyList<ModelReference> Loaded
    {
        get
        {
            lock (_gate)
                return [.. _loaded.Select(e => e.Manifest.Reference)];
        }
    }

    /// <summary>How many models were loaded since the process started (a second acquire of a loaded model does not count).</summary>
    public int Loads { get; private set; }

    /// <exception cref="ModelNotFoundException">No such version.</exception>
    /// <exception cref="ModelIntegrityException">The file or its labels do not match the manifest, or the manifest is not one.</exception>
    public async Task<ModelLease> AcquireAsync(ModelReference exact, CancellationToken cancellationToken = default)
    {
        if (!exact.IsExact)
            throw new ArgumentException($"the cache loads exact references, not '{exact}'", nameof(exact));
        if (TryLease(exact) is { } lease)
            return lease;
        await _loading.WaitAsync(cancellationToken);
        try
        {
            if (TryLease(exact) is { } loadedMeanwhile)
                return loadedMeanwhile;
            var manifest = await repository.GetManifestAsync(exact, cancellationToken);
            var (path, labelsPath) = await repository.DownloadVerifiedAsync(manifest, cancellationToken);
            var classifier = ImageClassifier.Load(path, new InferenceOptions
            {
                Device = scoring.Device,
                IntraOpThreads = scoring.IntraOpThreads,
                Warning = w => _logger.LogWarning("model {Model} load: {Warning}", exact, w),
            }, ScoringEngine.ParsePreprocessing(manifest.Preprocessing), labelsPath is null ? null : ClassLabels.Load(labelsPath));
            _logger.LogInformation("loaded model {Model} sha256 {ModelSha256} on {ExecutionProvider}", exact, classifier.ModelSha256, classifier.ExecutionProvider);
            var entry = new Entry(manifest, classifier);
            lock (_gate)
            {
                Loads++;
                _loaded.AddLast(entry);
                while (_loaded.Count > Math.Max(1, options.MaxLoaded))
                {
                    var oldest = _loaded.First!.Value;
                    _loaded.RemoveFirst();
                    oldest.Evicted = true;
                    _logger.LogInformation("unloading model {Model} (at most {MaxLoaded} loaded)", oldest.Manifest.Reference, options.MaxLoaded);
                    if (oldest.Users == 0)
                        oldest.Classifier.Dispose();
                }
                return Lease(entry);
            }
        }
        finally
        {
            _loading.Release();
        }
    }

    private ModelLease? TryLease(ModelReference exact)
    {
        lock (_gate)
        {
            for (var node = _loaded.First; node is not null; node = node.Next)
            {
                if (node.Value.Manifest.Reference != exact)
                    continue;
                _loaded.Remove(node);
                _loaded.AddLast(node);
                return Lease(node.Value);
            }
            return null;
        }
    }

    // Called under _gate.
    private ModelLease Lease(Entry entry)
    {
        entry.Users++;
        return new ModelLease(entry.Manifest, entry.Classifier, () =>
        {
            lock (_gate)
            {
                entry.Users--;
                if (entry.Users == 0 && entry.Evicted)
                    entry.Classifier.Dispose();
            }
        });
    }

    public void Dispose()
    {
        lock (_gate)
        {
            foreach (var entry in _loaded)
                entry.Classifier.Dispose();
            _loaded.Clear();
        }
        _loading.Dispose();
    }

    private sealed class Entry(ModelManifest manifest, ImageClassifier classifier)
    {
        public ModelManifest Manifest { get; } = manifest;
        public ImageClassifier Classifier { get; } = classifier;
        public int Users { get; set; }
        public bool Evicted { get; set; }
    }
}
