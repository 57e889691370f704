using ConvNeXt.Batch.Service.Contracts;
using ConvNeXt.Batch.Service.Observability;
using ConvNeXt.Batch.Service.Queries;
using ConvNeXt.Batch.Service.Storage;
using ConvNeXt.Batch.Service.Validation;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace ConvNeXt.Batch.Service.Services;

/// <summary>
/// Validation runs, in three parts on one <see cref="ValidationRunStore"/> (the owner of the run row): planning
/// (<see cref="ValidationRunPlanner"/>: create, plan blob, fan-out), chunk scoring (<see cref="ValidationChunkScorer"/>) and
/// finalization (<see cref="ValidationRunFinalizer"/>: completed from the sum of the chunk rows, or failed with a reason).
/// Every write is an upsert on a deterministic key or a conditional write of the run row, and totals are never incremented,
/// so any number of redeliveries, in any order, in parallel, gives the same result.
/// </summary>
public sealed class ValidationRunService
{
    private readonly ScoringEngine _engine;
    private readonly ValidationQueries _queries;

    public ValidationRunService(ValidationRunPlanner planner, ValidationChunkScorer scorer, ValidationRunFinalizer finalizer, ValidationQueries queries,
        ScoringEngine engine)
    {
        Planner = planner;
        Scorer = scorer;
        Finalizer = finalizer;
        _queries = queries;
        _engine = engine;
    }

    public ValidationRunPlanner Planner { get; }
    public ValidationChunkScorer Scorer { get; }
    public ValidationRunFinalizer Finalizer { get; }

    /// <inheritdoc cref="ValidationRunPlanner.CreateRunAsync"/>
    public Task<ValidationRunPlan> CreateRunAsync(ValidationRunRequest request, string trigger, CancellationToken cancellationToken = default) =>
        Planner.CreateRunAsync(request, trigger, cancellationToken);

    /// <inheritdoc cref="ValidationChunkScorer.ScoreChunkAsync"/>
    public Task<ChunkOutcome> ScoreChunkAsync(ValidationChunkMessage chunk, string? invocationId = null, CancellationToken cancellationToken = default) =>
        Scorer.ScoreChunkAsync(chunk, invocationId, cancellationToken);

    /// <inheritdoc cref="ValidationRunFinalizer.CompleteChunkAsync"/>
    public Task<(bool Finalized, bool Completed)> CompleteChunkAsync(string runId, int chunkIndex, string? invocationId,
        CancellationToken cancellationToken = default) =>
        Finalizer.CompleteChunkAsync(runId, chunkIndex, invocationId, cancellationToken);

    /// <summary>
    /// A whole run in this process, without Service Bus: create, score every chunk, finalize, report.
    /// The CLI's <c>validate</c> against a storage account and the function path share this code.
    /// </summary>
    public async Task<ValidationRunReport> RunLocallyAsync(ValidationRunRequest request, CancellationToken cancellationToken = default)
    {
        var plan = await CreateRunAsync(request, "local", cancellationToken);
        foreach (var chunk in plan.Chunks)
            await ScoreChunkAsync(chunk, "local", cancellationToken);
        return await _queries.GetRunAsync(plan.Run.RunId,
            await _engine.GetLabelsAsync(plan.Run.Model is { } name ? Models.ModelReference.Parse(name) : null, cancellationToken), cancellationToken)
            ?? throw new InvalidOperationException($"run {plan.Run.RunId} vanished");
    }

    /// <inheritdoc cref="ValidationRunPlanner.NewRunId"/>
    public static string NewRunId(DateTimeOffset at, bool scheduled = false) => ValidationRunPlanner.NewRunId(at, scheduled);
}
