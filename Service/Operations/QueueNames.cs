namespace ConvNeXt.Batch.Service.Operations;

/// <summary>The Service Bus queues of a deployment (Infrastructure/modules/servicebus.bicep).</summary>
public static class QueueNames
{
    public const string ScoreRequests = "score-requests";
    public const string ValidationChunks = "validation-chunks";

    public static IReadOnlyList<string> All { get; } = [ScoreRequests, ValidationChunks];
}
