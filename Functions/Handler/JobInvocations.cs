using System.Text.Json;
using ConvNeXt.Batch.Service.Api;
using ConvNeXt.Batch.Service.Contracts;
using ConvNeXt.Batch.Service.Jobs;
using ConvNeXt.Batch.Service.Observability;
using ConvNeXt.Batch.Service.Validation;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;

namespace ConvNeXt.Batch.Functions.Handler;

/// <summary>
/// The scoring job functions: <c>CreateScoringJob</c> (HTTP POST, sends the first planner message),
/// <c>PlanScoringJob</c> (on <c>scoring-job-plans</c>: one bounded planner step, sends its chunks and the next step) and
/// <c>ScoreJobChunk</c> (on <c>scoring-job-chunks</c>). A malformed or forged message is completed with a warning
/// (permanent); a storage or model failure fails the invocation so Service Bus redelivers it (transient).
/// </summary>
public sealed class JobInvocations(ScoringJobService jobs, ScoringJobApi api, HandlerOptions handlerOptions, ScoringMetrics metrics, ILoggerFactory loggers)
{
    public const string PlansBinding = "plans";
    public const string ChunksBinding = "chunks";

    private readonly ILogger _logger = loggers.CreateLogger("ConvNeXt.Batch.Functions.Jobs");

    public async Task<IResult> CreateScoringJobAsync(InvocationRequest request, CancellationToken ct)
    {
        var log = new InvocationLog(_logger);
        var response = new InvocationResponse();
        try
        {
            if (request.Binding(FunctionInvocations.RequestBinding) is not { } reqElement)
                return Results.Json(WithHttp(response, 400, new { error = "no 'req' in the invocation data" }));
            var req = HttpTriggerRequest.Parse(reqElement);
            if (!FunctionKeys.IsAuthorized(handlerOptions.FunctionKey, req.Header(FunctionKeys.HeaderName), req.QueryValue(FunctionKeys.QueryName)))
                return Results.Json(WithHttp(response, 401, new { error = "a function key is required" }));
            var started = await api.StartAsync(req.Body, ct);
            if (started.Value is { } first)
            {
                response.Outputs[PlansBinding] = new List<string> { JsonSerializer.Serialize(first, ContractJson.Options) };
                log.Information($"scoring job {first.JobId} started");
            }
            else if (started.Response.Body is ApiProblem problem)
            {
                log.Warning(problem.Error);
            }
            response.Logs.AddRange(log.Lines);
            return Results.Json(WithHttp(response, started.Response.StatusCode, started.Response.Body!));
        }
        catch (Exception e) when (e is not OperationCanceledException || !ct.IsCancellationRequested)
        {
            return Fail(log, response, e, "CreateScoringJob failed");
        }
    }

    public async Task<IResult> PlanScoringJobAsync(InvocationRequest request, CancellationToken ct)
    {
        var log = new InvocationLog(_logger);
        var response = new InvocationResponse();
        try
        {
            var chunks = new List<string>();
            var plans = new List<string>();
            foreach (var step in Messages<JobPlanMessage>(request, log))
            {
                try
                {
                    var result = await jobs.PlanStepAsync(step, ct);
                    chunks.AddRange(result.Chunks.Select(c => JsonSerializer.Serialize(c, ContractJson.Options)));
                    if (result.Next is { } next)
                        plans.Add(JsonSerializer.Serialize(next, ContractJson.Options));
                    log.Information($"job {step.JobId} step {step.Step}: {result.Chunks.Count} chunk(s){(result.Next is null ? ", listing ended" : "")}");
                }
                catch (InvalidChunkException e)
                {
                    metrics.MessagesRejected.Add(1);
                    log.Warning($"planner message completed without planning: {e.Message}");
                }
            }
            response.Outputs[ChunksBinding] = chunks;
            response.Outputs[PlansBinding] = plans;
            response.Logs.AddRange(log.Lines);
            return Results.Json(response, ContractJson.Options);
        }
        catch (Exception e) when (e is not OperationCanceledException || !ct.IsCancellationRequested)
        {
            return Fail(log, response, e, "PlanScoringJob failed; the message will be redelivered");
        }
    }

    public async Task<IResult> ScoreJobChunkAsync(InvocationRequest request, CancellationToken ct)
    {
        var log = new InvocationLog(_logger);
        var response = new InvocationResponse();
        try
        {
            var outcomes = new List<JobChunkOutcome>();
            foreach (var chunk in Messages<JobChunkMessage>(request, log))
            {
                try
                {
                    var outcome = await jobs.ScoreChunkAsync(chunk, ct);
                    outcomes.Add(outcome);
                    log.Information($"job {chunk.JobId} chunk {chunk.ChunkIndex}: " + (outcome.Counted
                        ? $"{outcome.Scored} scored, {outcome.Skipped} unchanged, {outcome.Failed} error rows; job {outcome.JobStatus}"
                        : $"not counted (job {outcome.JobStatus}, or counted before)"));
                }
                catch (InvalidChunkException e)
                {
                    metrics.MessagesRejected.Add(1);
                    log.Warning($"job chunk message completed without scoring: {e.Message}");
                }
            }
            response.ReturnValue = outcomes;
            response.Logs.AddRange(log.Lines);
            return Results.Json(response, ContractJson.Options);
        }
        catch (Exception e) when (e is not OperationCanceledException || !ct.IsCancellationRequested)
        {
            return Fail(log, response, e, "ScoreJobChunk failed; the message will be redelivered");
        }
    }

    /// <summary>The trigger's message bodies as <typeparamref name="T"/>; one that does not parse is logged and completed.</summary>
    private List<T> Messages<T>(InvocationRequest request, InvocationLog log) where T : class
    {
        var data = request.Binding(FunctionInvocations.MessageBinding) ?? request.Binding(FunctionInvocations.MessagesBinding);
        var list = new List<T>();
        foreach (var item in data is { } d ? JsonPayload.Items(d) : [])
        {
            try
            {
                if (JsonPayload.Unwrap(item).Deserialize<T>(ContractJson.Options) is { } message)
                    list.Add(message);
            }
            catch (JsonException e)
            {
                metrics.MessagesRejected.Add(1);
                log.Warning($"message completed without processing: not a {typeof(T).Name} ({e.Message})");
            }
        }
        return list;
    }

    private static InvocationResponse WithHttp(InvocationResponse response, int status, object body)
    {
        response.Outputs[FunctionInvocations.ResponseBinding] = new HttpOutput { StatusCode = status, Body = JsonSerializer.Serialize(body, ContractJson.Options) };
        return response;
    }

    private IResult Fail(InvocationLog log, InvocationResponse response, Exception e, string message)
    {
        metrics.InvocationErrors.Add(1);
        log.Error(e, message);
        response.Logs.AddRange(log.Lines);
        response.Outputs.Clear();
        return Results.Json(response, statusCode: 500);
    }
}
