using ConvNeXt.Batch.Service.Services;

namespace ConvNeXt.Batch.Api;

/// <summary>
/// Where the chunks of a run created through <c>POST /api/validation-runs</c> go. <c>serve</c> registers its in-process queue;
/// the Functions handler registers none (the host invokes CreateValidationRun, whose output binding sends the chunks to
/// Service Bus), so the route is mapped only where a sink is registered.
/// </summary>
public interface IValidationChunkSink
{
    void Send(ValidationRunPlan plan);
}
