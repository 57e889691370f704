using System.Text.Json;
using ConvNeXt.Batch.Service.Contracts;
using ConvNeXt.Batch.Service.Jobs;

namespace ConvNeXt.Batch.Service.Api;

/// <summary>
/// The scoring job routes as plain calls (<see cref="ServiceApi"/>'s conventions): <c>POST /api/scoring-jobs</c>,
/// <c>GET /api/scoring-jobs[/{id}]</c>, <c>POST /api/scoring-jobs/{id}/cancel</c>. Starting answers the first planner
/// message too; the host delivers it (Service Bus in Azure, in process under <c>serve</c>).
/// </summary>
public sealed class ScoringJobApi(ScoringJobService jobs)
{
    public const string JobsRoute = "/api/scoring-jobs";
    public const string JobRoute = "/api/scoring-jobs/{id}";
    public const string CancelRoute = "/api/scoring-jobs/{id}/cancel";

    /// <summary>201 with the job (its <c>jobId</c>); 400 for a container outside the allow-list or a bad body; 404 for an unknown model.</summary>
    public async Task<ApiResponse<JobPlanMessage>> StartAsync(string? body, CancellationToken cancellationToken = default)
    {
        ScoringJobRequest request;
        try
        {
            request = string.IsNullOrWhiteSpace(body) ? new ScoringJobRequest()
                : JsonSerializer.Deserialize<ScoringJobRequest>(body, ContractJson.Options) ?? new ScoringJobRequest();
        }
        catch (JsonException e)
        {
            return new(ApiResponse.Problem(400, $"body is not a scoring job request: {e.Message}"), null);
        }
        try
        {
            var (job, first) = await jobs.StartAsync(request, cancellationToken);
            return new(ApiResponse.Created(job), first);
        }
        catch (JobRequestException e)
        {
            return new(ApiResponse.Problem(400, e.Message), null);
        }
        catch (UnknownModelException e)
        {
            return new(ApiResponse.NotFound(e.Message), null);
        }
    }

    public async Task<ApiResponse> GetAsync(string id, CancellationToken cancellationToken = default) =>
        await jobs.GetAsync(id, cancellationToken) is { } job ? ApiResponse.Ok(job) : ApiResponse.NotFound($"no scoring job '{id}'");

    public async Task<ApiResponse> ListAsync(ApiQuery query, CancellationToken cancellationToken = default)
    {
        try
        {
            return ApiResponse.Ok(await jobs.ListAsync(query.Int("top"), query["continuationToken"], cancellationToken));
        }
        catch (ArgumentException e)
        {
            return ApiResponse.Problem(400, e.Message);
        }
    }

    public async Task<ApiResponse> CancelAsync(string id, CancellationToken cancellationToken = default) =>
        await jobs.CancelAsync(id, cancellationToken) is { } job ? ApiResponse.Ok(job) : ApiResponse.NotFound($"no scoring job '{id}'");
}
