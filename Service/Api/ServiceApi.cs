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
/// <param name="datasets">Which containers a requested run may read (<see cref="ValidationDefaultsOptions.AllowedContainers"/>).</param>
public sealed class ServiceApi(PredictionQueries predictions, ValidationQueries validations, ValidationRunService runs, ScoringEngine engine,
    ValidationDefaultsOptions datasets, ServiceHealth health, RunComparisons comparisons)
{
    private readonly IReadOnlySet<string> _datasetContainers = datasets.AllowedContainers();
    private readonly ServiceHealth _health = health;

    /// <summary>
    /// <c>GET /api/predictions?container=&amp;prefix=&amp;status=&amp;wnid=&amp;top=&amp;continuationToken=</c>, or with
    /// <c>?container=&amp;blob=</c> one row. The query form names any blob exactly: the Functions host forwards a
    /// request by rebuilding its URL from the decoded path, so '#', '?' and '%' in a path segment do not
    /// survive, while query values are re-encoded (README.md, "Blob names in URLs").
    /// </summary>
    /// <remarks>
    /// <c>?model=NAME@VERSION</c> (or <c>NAME</c>) reads that model's rows; without it, a container's rows are the
    /// default model's (the <c>default</c> alias, else the deployed model). An unknown model answers 404 naming it.
    /// </remarks>
    public Task<ApiResponse> ListPredictionsAsync(ApiQuery query, CancellationToken cancellationToken = default) =>
        query["blob"] is { } blob
            ? Query(async () => await predictions.GetAsync(
                query["container"] is { Length: > 0 } container ? container : throw new QueryArgumentException("blob needs a container"),
                blob, await ModelOfAsync(query, cancellationToken), cancellationToken))
            : Query(async () => await predictions.ListAsync(new PredictionQuery
        {
            Container = query["container"], Prefix = query["prefix"], Status = query["status"], Wnid = query["wnid"],
            Model = query["container"] is { Length: > 0 } || query["model"] is { Length: > 0 } ? await ModelOfAsync(query, cancellationToken) : null,
            Top = query.Int("top"), ContinuationToken = query["continuationToken"],
        }, cancellationToken));

    /// <summary><c>GET /api/predictions/{container}/{**blob}</c> (<c>?model=</c> as for the list)</summary>
    public Task<ApiResponse> GetPredictionAsync(string container, string blob, CancellationToken cancellationToken = default) =>
        GetPredictionAsync(container, blob, new ApiQuery([]), cancellationToken);

    /// <summary><c>GET /api/predictions/{container}/{**blob}?model=</c></summary>
    public Task<ApiResponse> GetPredictionAsync(string container, string blob, ApiQuery query, CancellationToken cancellationToken = default) =>
        Query(async () => await predictions.GetAsync(container, blob, await ModelOfAsync(query, cancellationToken), cancellationToken));

    /// <summary><c>?model=</c> resolved to the exact model whose rows are read (null: the deployed model's).</summary>
    private async Task<ModelReference?> ModelOfAsync(ApiQuery query, CancellationToken cancellationToken)
    {
        ModelReference? requested = null;
        if (query["model"] is { Length: > 0 } text)
            requested = ModelReference.TryParse(text, out var parsed) ? parsed : throw new QueryArgumentException(ModelReference.Problem(text)!);
        var exact = await engine.ResolveAsync(requested, cancellationToken);
        if (exact is not null && engine.Models is { } models)
            await models.Repository.GetManifestAsync(exact, cancellationToken); // an unknown version is a 404, not an empty list
        return exact;
    }

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
            return await validations.GetRunAsync(id,
                engine.IsLoaded ? (await engine.GetClassifierAsync(cancellationToken)).Labels : null, cancellationToken);
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
            return ApiResponse.Ok(await comparisons.CompareAsync(a, b, cancellationToken));
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
        if (request.Container is { } container && !_datasetContainers.Contains(container))
            return new(ApiResponse.Problem(400,
                $"container '{container}' is not a dataset container (allowed: {string.Join(", ", _datasetContainers.Order(StringComparer.Ordinal))}; setting ValidationDefaults__DatasetContainers)"), null);
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
        catch (ModelNotFoundException e)
        {
            return new(ApiResponse.NotFound(e.Message), null);
        }
        catch (ModelIntegrityException e)
        {
            // The named model's file fails its manifest (or the manifest is not one): not loaded, no run is made.
            return new(ApiResponse.Problem(422, e.Message), null);
        }
    }

    /// <summary>
    /// <c>GET /api/health</c>: 200 with the loaded model and reachable storage; 503 when the model (or CUDA, for
    /// <c>Scoring__Device=cuda</c>) cannot be loaded or a storage endpoint does not answer. Checked at most once per
    /// <see cref="ServiceHealth.CacheDuration"/>. Without <paramref name="details"/> (an anonymous caller) the body is
    /// the status alone; with them (a caller holding a function key) the whole <see cref="HealthReport"/>.
    /// </summary>
    public async Task<ApiResponse> HealthAsync(bool details = false, CancellationToken cancellationToken = default)
    {
        var (report, statusCode) = await _health.CheckAsync(cancellationToken);
        return new ApiResponse(statusCode, details ? report : new HealthSummary(report.Status));
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
        catch (ModelNotFoundException e)
        {
            return ApiResponse.NotFound(e.Message);
        }
    }
}

/// <summary>The body of <c>GET /api/health</c>.</summary>
public sealed record HealthReport(string Status, bool ModelLoaded, string? ModelId, string? Sha256, string? ExecutionProvider, int? Classes, string? Error,
    bool? Pinned, string? Warning, StorageStatus Storage);

/// <summary>Each storage endpoint in a health report: "reachable", or why not.</summary>
public sealed record StorageStatus(string Blob, string Table);
