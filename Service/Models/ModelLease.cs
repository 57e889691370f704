using ConvNeXt.Batch.Scoring.Inference;

namespace ConvNeXt.Batch.Service.Models;

/// <summary>
/// A loaded repository model in use: the classifier stays loaded until every lease on it is disposed, even
/// when the cache has evicted it meanwhile.
/// </summary>
public sealed class ModelLease(ModelManifest manifest, ImageClassifier classifier, Action release) : IDisposable
{
    private int _released;

    public ModelManifest Manifest { get; } = manifest;
    public ImageClassifier Classifier { get; } = classifier;

    public void Dispose()
    {
        if (Interlocked.Exchange(ref _released, 1) == 0)
            release();
    }
}
