using System.Text.Json;
using Azure;
using ConvNeXt.Batch.Service.Contracts;
using ConvNeXt.Batch.Service.Models;
using ConvNeXt.Batch.Service.Queries;
using ConvNeXt.Batch.Service.Services;
using ConvNeXt.Batch.Service.Storage;
using ConvNeXt.Batch.Service.Validation;

namespace ConvNeXt.Batch.Service.Api;

/// <summary>
/// The HTTP API as plain calls: query string in, status code and JSON body out. Hosts only bind the
/// routes (<see cref="ApiRoutes"/>), check keys and write the answer; what a request means lives here,
/// so the Functions handler and <c>convnext-batch serve</c> answer the same.
/// </summary>
public sealed class ServiceApi(PredictionQueries predictions, ValidationQueries validations, ValidationRunService runs, ScoringEngine engine,
    StorageAccount storage)
{
    /// <summary>
    /// <c>GET /api/predictions?container=&amp;prefix=&amp;status=&amp;wnid=&amp;top=&amp;continuationToken=</c>, or with
    /// <c>?container=&amp;blob=</c> one row. The query form names any blob exactly: the Functions host forwards a
    /// request by rebuilding its URL from the decoded path, so '#', '?' and '%' in a path segment do not
    /// survive, while query values are re-encoded (README.md, "Blob names in URLs").
    /// </summary>
    public Task<ApiResponse> ListPredictionsAsync(ApiQuery query, CancellationToken cancellationToken = default) =>
        query["blob"] is { } blob
            ? Query(async () => await predictions.GetAsync(
                query["container"] is { Length: > 0 } container ? container : throw new QueryArgumentException("blob needs a container"),
                blob, cancellationToken))
            : Query(async () => await predictions.ListAsync(new PredictionQuery
        {
            Container = query["container"], Prefix = query["prefix"], Status = query["status"], Wnid = query["wnid"],
            Top = query.Int("top"), ContinuationToken = query["continuationToken"],
        }, cancellationToken));

    /// <summary><c>GET /api/predictions/{container}/{**blob}</c></summary>
    public Task<ApiResponse> GetPredictionAsync(string container, string blob, CancellationToken cancellationToken = default) =>
        Query(async () => await predictions.GetAsync(container, blob, cancellationToken));

    /// <summary><c>GET /api/validation-runs?top=&amp;continuationToken=</c></summary>
    public Task<ApiResponse> ListValidationRunsAsync(ApiQuery query, CancellationToken cancellationToken = default) =>
        Query(async () => await validations.ListRunsAsync(query.Int("top"), query["continuationToken"], cancellationToken));

    /// <summary><c>GET /api/validation-runs/{id}</c>, or with <c>?wrong=true&amp;top=&amp;continuationToken=</c> its wrong predictions.</summary>
    public Task<ApiResponse> GetValidationRunAsync(string id, ApiQuery query, CancellationToken cancellationToken = default) =>
        Query<object>(async () =>
        {
            if (query.Flag("wrong"))
                return await validations.GetRunSummaryAsync(id, cancellationToken) is null ? null
                    : await validations.ListWrongAsync(id, query.Int("top"), query["continuationToken"], cancellationToken);
            return await validations.GetRunAsync(id, cancellationToken,
                engine.IsLoaded ? (await engine.GetClassifierAsync(cancellationToken)).Labels : null);
        });

    /// <summary>
    /// <c>GET /api/validation-runs/compare?a=&amp;b=</c>: the paired comparison of two completed runs on the same dataset
    /// (<see cref="RunComparisonReport"/>); 404 naming a run that does not exist, 400 when they cannot be paired.
    /// </summary>
    public async Task<ApiResponse> CompareValidationRunsAsync(ApiQuery query, CancellationToken cancellationToken = default)
    {
        if (query["a"] is not { } a || query["b"] is not { } b)
            return ApiResponse.Problem(400, "give the two run ids as a= and b=");
        try
        {
            return ApiResponse.Ok(await new RunComparisons(storage).CompareAsync(a, b, cancellationToken));
        }
        catch (RunNotFoundException e)
        {
            return ApiResponse.NotFound(e.Message);
        }
        catch (RunsNotComparableException e)
        {
            return ApiResponse.Problem(400, e.Message);
        }
    }

    /// <summary>
    /// <c>POST /api/validation-runs</c> with an optional <see cref="ValidationRunRequest"/> body: plans the run
    /// (201 and the run summary, or 200 for a run id that exists); the host then delivers the plan's chunks
    /// (Service Bus in Azure, in process locally).
    /// </summary>
    public async Task<ApiResponse<ValidationRunPlan>> CreateValidationRunAsync(string? body, string trigger, CancellationToken cancellationToken = default)
    {
        ValidationRunRequest request;
        try
        {
            request = string.IsNullOrWhiteSpace(body) ? new ValidationRunRequest()
                : JsonSerializer.Deserialize<ValidationRunRequest>(body, ContractJson.Options) ?? new ValidationRunRequest();
        }
        catch (JsonException e)
        {
            return new(ApiResponse.Problem(400, $"body is not a validation run request: {e.Message}"), null);
        }
        if (request.Container is { } requested && BlobNames.ContainerProblem(requested) is { } containerProblem)
            return new(ApiResponse.Problem(400, containerProblem), null);
        try
        {
            var plan = await runs.CreateRunAsync(request, trigger, cancellationToken);
            // A run id that exists already (a retried POST) answers 200 with the run; its unfinished chunks are sent again.
            return new(plan.Created ? ApiResponse.Created(plan.Run) : ApiResponse.Ok(plan.Run), plan);
        }
        catch (DatasetException e)
        {
            return new(ApiResponse.Problem(400, e.Message), null);
        }
    }

    /// <summary>
    /// <c>GET /api/health</c>: 200 with the loaded model and reachable storage; 503 when the model cannot be
    /// loaded or a storage endpoint does not answer (each endpoint says which).
    /// </summary>
    public async Task<ApiResponse> HealthAsync(CancellationToken cancellationToken = default)
    {
        var reachability = await StorageHealth.CheckAsync(storage, cancellationToken);
        var storageReport = new StorageStatus(reachability.Blob ?? "reachable", reachability.Table ?? "reachable");
        var storageHealthy = reachability.Blob is null && reachability.Table is null;
        try
        {
            var model = await engine.GetModelInfoAsync(cancellationToken);
            // An unpinned blob model (Model__AllowUnpinned) scores, but says so on every health check.
            var pinned = model.UnpinnedReason is null;
            var status = !storageHealthy ? "Unhealthy" : pinned ? "Healthy" : "Unpinned";
            return new ApiResponse(storageHealthy ? 200 : 503, new HealthReport(status, true, model.ModelId, model.Sha256, model.ExecutionProvider,
                model.ClassCount, null, pinned, model.UnpinnedReason, storageReport));
        }
        catch (Exception e) when (e is ModelIntegrityException or Scoring.Inference.ModelLoadException or RequestFailedException or IOException
                                  || StorageFailures.Classify(e) == StorageFailureKind.Transient)
        {
            return new ApiResponse(503, new HealthReport("Unhealthy", false, null, null, null, null, e.Message, null, null, storageReport));
        }
    }

    private static async Task<ApiResponse> Query<T>(Func<Task<T?>> run)
    {
        try
        {
            return await run() is { } result ? ApiResponse.Ok(result) : ApiResponse.NotFound();
        }
        catch (ArgumentException e)
        {
            return ApiResponse.Problem(400, e.Message);
        }
    }
}

/// <summary>The body of <c>GET /api/health</c>.</summary>
public sealed record HealthReport(string Status, bool ModelLoaded, string? ModelId, string? Sha256, string? ExecutionProvider, int? Classes, string? Error,
    bool? Pinned, string? Warning, StorageStatus Storage);

/// <summary>Each storage endpoint in a health report: "reachable", or why not.</summary>
public sealed record StorageStatus(string Blob, string Table);
