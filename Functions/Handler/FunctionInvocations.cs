using System.Globalization;
using System.Text.Json;
using ConvNeXt.Batch.Service.Api;
using ConvNeXt.Batch.Service.Contracts;
using ConvNeXt.Batch.Service.Messaging;
using ConvNeXt.Batch.Service.Models;
using ConvNeXt.Batch.Service.Observability;
using ConvNeXt.Batch.Service.Services;
using ConvNeXt.Batch.Service.Storage;
using ConvNeXt.Batch.Service.Validation;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;

namespace ConvNeXt.Batch.Functions.Handler;

/// <summary>
/// The functions the host invokes with the custom-handler payload (<c>POST /{FunctionName}</c>):
/// triggers other than HTTP, and the HTTP function that has an output binding. A 2xx answer completes
/// the invocation (the host completes the messages and sends the outputs); a 500 fails it (the host
/// abandons the messages, Service Bus redelivers them and dead-letters after the max delivery count).
/// </summary>
public sealed class FunctionInvocations(
    BlobScoringService scoring,
    ValidationRunService validation,
    ScoringMetrics metrics,
    ServiceApi api,
    HandlerOptions handlerOptions,
    ILoggerFactory loggers)
{
    public const string InvocationIdHeader = "X-Azure-Functions-InvocationId";
    public const string MessagesBinding = "messages";
    public const string MessageBinding = "message";
    public const string ChunksOutputBinding = "chunks";
    public const string TimerBinding = "timer";
    public const string RequestBinding = "req";
    public const string ResponseBinding = "res";

    private readonly ILogger _logger = loggers.CreateLogger("ConvNeXt.Batch.Functions.Invocations");
    private readonly IReadOnlySet<string> _scoredContainers = handlerOptions.ContainersToScore();

    public async Task<IResult> ScoreImagesAsync(HttpContext http, InvocationRequest request, CancellationToken ct)
    {
        var invocationId = InvocationId(http);
        var messageIds = request.MetadataArray("MessageIdArray").Select(JsonPayload.Text).ToList();
        using var span = InvocationTracing.Start("ScoreImages", invocationId, request, messageIds.Count);
        using var scope = _logger.BeginScope(new Dictionary<string, object?>
        {
            ["InvocationId"] = invocationId, ["FunctionName"] = "ScoreImages", ["MessageIds"] = string.Join(",", messageIds),
        });
        var log = new InvocationLog(_logger);
        var response = new InvocationResponse();
        try
        {
            var messages = request.Binding(MessagesBinding) is { } data ? JsonPayload.Items(data) : [];
            RecordQueueLag(request);
            var events = new List<BlobCreatedEvent>();
            for (var i = 0; i < messages.Count; i++)
            {
                var id = i < messageIds.Count ? messageIds[i] : null;
                var parsed = BlobEventParser.Parse(messages[i], id, _scoredContainers);
                events.AddRange(parsed.Events);
                foreach (var rejected in parsed.Rejected)
                {
                    metrics.MessagesRejected.Add(1);
                    log.Warning($"message {rejected.MessageId ?? "?"} completed without scoring: {rejected.Reason}");
                }
            }
            log.Information($"{messages.Count} message(s), {events.Count} blob event(s)");
            if (events.Count > 0)
            {
                var result = await scoring.ScoreEventsAsync(events, ct);
                foreach (var failed in result.Outcomes.Where(o => o.Status == RowStatus.Failed && !o.Skipped))
                    log.Warning($"blob {failed.Container}/{failed.Name}: error row, {failed.ErrorReason}");
                log.Information($"scored {result.Scored}, error rows {result.Failed}, unchanged {result.Skipped}");
                response.ReturnValue = new { scored = result.Scored, failed = result.Failed, skipped = result.Skipped };
            }
            response.Logs.AddRange(log.Lines);
            return Results.Json(response, statusCode: 200);
        }
        catch (Exception e) when (e is not OperationCanceledException || !ct.IsCancellationRequested)
        {
            return Fail(log, response, e, "ScoreImages failed; the messages will be redelivered");
        }
    }

    public async Task<IResult> ScoreValidationChunkAsync(HttpContext http, InvocationRequest request, CancellationToken ct)
    {
        var invocationId = InvocationId(http);
        using var span = InvocationTracing.Start("ScoreValidationChunk", invocationId, request, 1);
        using var scope = _logger.BeginScope(new Dictionary<string, object?> { ["InvocationId"] = invocationId, ["FunctionName"] = "ScoreValidationChunk" });
        var log = new InvocationLog(_logger);
        var response = new InvocationResponse();
        try
        {
            RecordQueueLag(request);
            var data = request.Binding(MessageBinding) ?? request.Binding(MessagesBinding);
            var outcomes = new List<ChunkOutcome>();
            foreach (var item in data is { } d ? JsonPayload.Items(d) : [])
            {
                ValidationChunkMessage? chunk = null;
                try
                {
                    chunk = JsonPayload.Unwrap(item).Deserialize<ValidationChunkMessage>(ContractJson.Options);
                }
                catch (JsonException e)
                {
                    metrics.MessagesRejected.Add(1);
                    log.Warning($"chunk message completed without scoring: not a chunk ({e.Message})");
                    continue;
                }
                var shape = ChunkRules.Problem(chunk);
                if (shape is not null || chunk is null)
                {
                    // Malformed: rejected before its (untrusted) run id or index is used in a log scope.
                    metrics.MessagesRejected.Add(1);
                    log.Warning($"chunk message completed without scoring: {shape}");
                    continue;
                }
                using var runScope = _logger.BeginScope(new Dictionary<string, object?> { ["RunId"] = chunk.RunId, ["ChunkIndex"] = chunk.ChunkIndex });
                try
                {
                    var outcome = await validation.ScoreChunkAsync(chunk, invocationId, ct);
                    outcomes.Add(outcome);
                    log.Information($"run {chunk.RunId} chunk {chunk.ChunkIndex}: {outcome.Scored} scored, {outcome.Failed} error rows" +
                                    (outcome.Finalized ? "; run finalized" : outcome.RunCompleted ? "; run already completed" : ""));
                }
                catch (Exception e) when (RedeliveryPolicy.Classify(e) == Redelivery.Complete)
                {
                    // Permanent: retrying cannot make it valid, so complete the message (no dead-letter churn); anything
                    // else fails the invocation and Service Bus redelivers it (RedeliveryPolicy.MaxDeliveries).
                    metrics.MessagesRejected.Add(1);
                    log.Warning($"run {chunk.RunId} chunk {chunk.ChunkIndex} completed without scoring: {e.Message}");
                }
            }
            response.ReturnValue = outcomes;
            response.Logs.AddRange(log.Lines);
            return Results.Json(response, ContractJson.Options, statusCode: 200);
        }
        catch (Exception e) when (e is not OperationCanceledException || !ct.IsCancellationRequested)
        {
            return Fail(log, response, e, "ScoreValidationChunk failed; the message will be redelivered");
        }
    }

    public async Task<IResult> CreateValidationRunAsync(HttpContext http, InvocationRequest request, CancellationToken ct)
    {
        var invocationId = InvocationId(http);
        using var span = InvocationTracing.Start("CreateValidationRun", invocationId, request, 0);
        using var scope = _logger.BeginScope(new Dictionary<string, object?> { ["InvocationId"] = invocationId, ["FunctionName"] = "CreateValidationRun" });
        var log = new InvocationLog(_logger);
        var response = new InvocationResponse();
        try
        {
            if (request.Binding(RequestBinding) is not { } reqElement)
                return Results.Json(WithHttp(response, 400, new ApiProblem("no 'req' in the invocation data")));
            var req = HttpTriggerRequest.Parse(reqElement);
            if (!FunctionKeys.IsAuthorized(handlerOptions.FunctionKey, req.Header(FunctionKeys.HeaderName), req.QueryValue(FunctionKeys.QueryName)))
                return Results.Json(WithHttp(response, 401, new ApiProblem("a function key is required")));
            var created = await api.CreateValidationRunAsync(req.Body, "http", ct);
            if (created.Value is { } plan)
            {
                response.Outputs[ChunksOutputBinding] = ChunkOutputs(plan);
                log.Information(plan.Created
                    ? $"run {plan.Run.RunId}: {plan.Run.ExpectedImageCount} images in {plan.Chunks.Count} chunks"
                    : $"run {plan.Run.RunId} exists ({plan.Run.Status}): {plan.Chunks.Count} of {plan.Run.ChunkCount} chunks sent again");
            }
            else if (created.Response.Body is ApiProblem problem)
            {
                log.Warning(problem.Error);
            }
            response.Logs.AddRange(log.Lines);
            return Results.Json(WithHttp(response, created.Response.StatusCode, created.Response.Body));
        }
        catch (Exception e) when (e is not OperationCanceledException || !ct.IsCancellationRequested)
        {
            return Fail(log, response, e, "CreateValidationRun failed");
        }
    }

    public async Task<IResult> StartValidationRunAsync(HttpContext http, InvocationRequest request, ValidationDefaultsOptions defaults, CancellationToken ct)
    {
        var invocationId = InvocationId(http);
        using var span = InvocationTracing.Start("StartValidationRun", invocationId, request, 0);
        using var scope = _logger.BeginScope(new Dictionary<string, object?> { ["InvocationId"] = invocationId, ["FunctionName"] = "StartValidationRun" });
        var log = new InvocationLog(_logger);
        var response = new InvocationResponse();
        try
        {
            try
            {
                foreach (var line in await validation.Finalizer.SweepAsync(ct))
                    log.Warning(line);
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                // The sweep is housekeeping (the next timer sweeps again); it must not keep the scheduled run from starting.
                log.Error(e, "stalled-run sweep failed");
            }
            var occurrence = ScheduledOccurrence(request);
            var runId = ValidationRunService.NewRunId(occurrence, scheduled: true);
            var plan = await validation.CreateRunAsync(new ValidationRunRequest { RunId = runId }, "timer", ct);
            response.Outputs[ChunksOutputBinding] = ChunkOutputs(plan);
            log.Information($"scheduled run {plan.Run.RunId}: {plan.Run.ExpectedImageCount} images of {defaults.Container}/{defaults.Prefix} in {plan.Chunks.Count} chunks");
            response.Logs.AddRange(log.Lines);
            return Results.Json(response);
        }
        catch (DatasetException e)
        {
            // A misconfigured dataset will not fix itself on retry: log it and let the timer move on.
            log.Error(e, "scheduled validation run not started");
            response.Logs.AddRange(log.Lines);
            return Results.Json(response);
        }
        catch (Exception e) when (e is not OperationCanceledException || !ct.IsCancellationRequested)
        {
            return Fail(log, response, e, "StartValidationRun failed");
        }
    }

    /// <summary>Each chunk as its own message (a JSON string per array item).</summary>
    private static List<string> ChunkOutputs(ValidationRunPlan plan) =>
        plan.Chunks.Select(c => JsonSerializer.Serialize(c, ContractJson.Options)).ToList();

    private static InvocationResponse WithHttp(InvocationResponse response, int status, object? body)
    {
        response.Outputs[ResponseBinding] = new HttpOutput { StatusCode = status, Body = JsonSerializer.Serialize(body, ContractJson.Options) };
        return response;
    }

    private IResult Fail(InvocationLog log, InvocationResponse response, Exception e, string message)
    {
        metrics.InvocationErrors.Add(1);
        PipelineTracing.Fail(System.Diagnostics.Activity.Current, e);
        log.Error(e, message);
        response.Logs.AddRange(log.Lines);
        response.Outputs.Clear();
        return Results.Json(response, statusCode: 500);
    }

    private void RecordQueueLag(InvocationRequest request)
    {
        var now = DateTimeOffset.UtcNow;
        var times = request.MetadataArray("EnqueuedTimeUtcArray");
        if (times.Count == 0 && request.TryMetadata("EnqueuedTimeUtc", out var single))
            times = [single];
        foreach (var t in times)
            if (t.ValueKind == JsonValueKind.String &&
                DateTimeOffset.TryParse(t.GetString(), CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal, out var enqueued))
                metrics.QueueLag.Record(Math.Max(0, (now - enqueued).TotalMilliseconds));
    }

    /// <summary>
    /// The schedule occurrence this timer invocation stands for. The host passes the schedule status as it
    /// was before the invocation, so <c>ScheduleStatus.Next</c> is the occurrence being run, on time or past
    /// due, and stays the same when the host fires it again (after a crash, on another instance, minutes
    /// later): the same occurrence gives the same run id. Without a schedule monitor there is no status;
    /// then the invocation time to the minute is the best stand-in.
    /// </summary>
    internal static DateTimeOffset ScheduledOccurrence(InvocationRequest request)
    {
        if (request.Binding(TimerBinding) is { } timer && JsonPayload.Unwrap(timer) is { ValueKind: JsonValueKind.Object } t &&
            Property(t, "ScheduleStatus") is { ValueKind: JsonValueKind.Object } status &&
            Property(status, "Next") is { ValueKind: JsonValueKind.String } next &&
            DateTimeOffset.TryParse(next.GetString(), CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal | DateTimeStyles.AdjustToUniversal, out var scheduled) &&
            scheduled.Year > 2000)
            return new DateTimeOffset(scheduled.UtcDateTime.Ticks - scheduled.UtcDateTime.Ticks % TimeSpan.TicksPerSecond, TimeSpan.Zero);
        var at = DateTimeOffset.UtcNow;
        if (request.TryMetadata("sys", out var sys) && JsonPayload.Unwrap(sys) is { ValueKind: JsonValueKind.Object } s &&
            s.TryGetProperty("UtcNow", out var utc) && utc.ValueKind == JsonValueKind.String &&
            DateTimeOffset.TryParse(utc.GetString(), CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal, out var parsed))
            at = parsed.ToUniversalTime();
        return new DateTimeOffset(at.Year, at.Month, at.Day, at.Hour, at.Minute, 0, TimeSpan.Zero);
    }

    private static JsonElement? Property(JsonElement obj, string name)
    {
        foreach (var p in obj.EnumerateObject())
            if (string.Equals(p.Name, name, StringComparison.OrdinalIgnoreCase))
                return p.Value;
        return null;
    }

    private static string InvocationId(HttpContext http) =>
        http.Request.Headers.TryGetValue(InvocationIdHeader, out var id) && !string.IsNullOrEmpty(id) ? id.ToString() : Guid.NewGuid().ToString();
}
