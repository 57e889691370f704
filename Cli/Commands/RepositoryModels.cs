using ConvNeXt.Batch.Scoring.Inference;
using ConvNeXt.Batch.Scoring.Labels;
using ConvNeXt.Batch.Service.Models;
using ConvNeXt.Batch.Service.Services;
using ConvNeXt.Batch.Service.Storage;

namespace ConvNeXt.Batch.Cli.Commands;

/// <summary>Loading a repository model (<c>--model NAME@VERSION</c>) in the CLI: resolved, downloaded, verified, loaded.</summary>
internal static class RepositoryModels
{
    /// <summary>The exact reference and its manifest; an unknown model, version or alias is a usage error (exit 2) naming it.</summary>
    public static async Task<ModelManifest> ManifestAsync(StorageAccount account, ModelReference reference, CancellationToken ct)
    {
        var repository = CommandServices.Repository(account);
        try
        {
            return await repository.GetManifestAsync(await repository.ResolveAsync(reference, ct), ct);
        }
        catch (ModelNotFoundException e)
        {
            throw new UsageException(e.Message);
        }
    }

    /// <summary>The model's file verified against its manifest (else exit 1 saying why), loaded with the manifest's preprocessing and labels.</summary>
    public static async Task<(ImageClassifier Classifier, ModelManifest Manifest)> LoadAsync(StorageAccount account, ModelReference reference,
        InferenceOptions inference, CliConsole console, CancellationToken ct)
    {
        var manifest = await ManifestAsync(account, reference, ct);
        var repository = CommandServices.Repository(account);
        string path;
        string? labels;
        try
        {
            (path, labels) = await repository.DownloadVerifiedAsync(manifest, ct);
        }
        catch (ModelIntegrityException e)
        {
            throw new CommandFailedException(e.Message, e);
        }
        var classifier = ImageClassifier.Load(path, inference with { Warning = console.Warn },
            ScoringEngine.ParsePreprocessing(manifest.Preprocessing), labels is null ? null : ClassLabels.Load(labels));
        if (!manifest.Trained)
            console.Warn($"UNTRAINED WEIGHTS: {manifest.Reference} has random weights; its predictions are meaningless.");
        return (classifier, manifest);
    }
}
