using ConvNeXt.Batch.Service.Services;

namespace ConvNeXt.Batch.Service.Jobs;

/// <summary>
/// THE SEAM between scoring jobs and the model repository: resolves a job's model reference (<c>NAME@VERSION</c>) to
/// the scoring service that writes that model's <c>Predictions</c> rows. Until the repository lands, a worker has one
/// model (its <see cref="ScoringEngine"/>) and a reference resolves when its name is that model's id; the repository
/// replaces <see cref="ResolveAsync"/> with a load by reference (verified against its manifest), and nothing else in
/// the jobs code changes.
/// </summary>
public sealed class JobModels(ScoringEngine engine, BlobScoringService scoring)
{
    /// <returns>The scoring service and the sha256 of the model it scores with.</returns>
    /// <exception cref="UnknownModelException">No model of that name (or version) here.</exception>
    public async Task<(BlobScoringService Scoring, string Sha256)> ResolveAsync(string reference, CancellationToken cancellationToken = default)
    {
        var model = await engine.GetModelInfoAsync(cancellationToken);
        var name = reference.Split('@')[0];
        if (!string.Equals(name, model.ModelId, StringComparison.Ordinal))
            throw new UnknownModelException(reference);
        return (scoring, model.Sha256);
    }
}
