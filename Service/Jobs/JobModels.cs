using ConvNeXt.Batch.Service.Models;
using ConvNeXt.Batch.Service.Services;

namespace ConvNeXt.Batch.Service.Jobs;

/// <summary>
/// A job's model: its reference resolved once, when the job is created, to the exact version (<c>NAME</c> alone: the version
/// its alias names now), so a promote while the job runs changes nothing of it; chunks then score with that version, whose
/// rows go to its own partition. The model the worker was deployed with is named by its model id.
/// </summary>
public sealed class JobModels(ScoringEngine engine, BlobScoringService scoring)
{
    /// <returns>The exact reference to store on the job (the deployed model's id for that model) and the model file's sha256.</returns>
    /// <exception cref="UnknownModelException">No model of that name (or version) in the repository, nor the deployed one.</exception>
    public async Task<(string Exact, string Sha256)> ResolveAsync(string reference, CancellationToken cancellationToken = default)
    {
        if (await DeployedAsync(reference, cancellationToken) is { } deployed)
            return (deployed.ModelId, deployed.Sha256);
        if (!ModelReference.TryParse(reference, out var requested))
            throw new UnknownModelException(reference);
        try
        {
            var exact = await engine.ResolveAsync(requested, cancellationToken);
            var model = await engine.GetModelInfoAsync(exact, cancellationToken);
            return (exact?.ToString() ?? model.ModelId, model.Sha256);
        }
        catch (ModelNotFoundException)
        {
            throw new UnknownModelException(reference);
        }
    }

    /// <summary>Scores a chunk's blobs with the job's exact model (as <see cref="ResolveAsync"/> stored it).</summary>
    public async Task<BlobScoringResult> ScoreAsync(string exact, IEnumerable<BlobReference> blobs, CancellationToken cancellationToken = default) =>
        await DeployedAsync(exact, cancellationToken) is not null
            ? await scoring.ScoreAsync(blobs, cancellationToken)
            : await scoring.ScoreAsync(blobs, ModelReference.Parse(exact), cancellationToken);

    /// <summary>The execution provider the job's exact model runs on here (cpu, cuda, …), for its chunk rows.</summary>
    public async Task<string> ExecutionProviderAsync(string exact, CancellationToken cancellationToken = default) =>
        (await DeployedAsync(exact, cancellationToken) ?? await engine.GetModelInfoAsync(ModelReference.Parse(exact), cancellationToken)).ExecutionProvider;

    /// <summary>The deployed model when <paramref name="reference"/> names it by its id (with or without a version).</summary>
    private async Task<ModelInfo?> DeployedAsync(string reference, CancellationToken cancellationToken)
    {
        // A worker that scores repository models only has no deployed model to compare with.
        if (!engine.HasDeployedModel)
            return null;
        var deployed = await engine.GetModelInfoAsync(cancellationToken);
        return string.Equals(reference.Split('@')[0], deployed.ModelId, StringComparison.Ordinal) ? deployed : null;
    }
}
