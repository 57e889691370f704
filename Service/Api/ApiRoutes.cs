namespace ConvNeXt.Batch.Service.Api;

/// <summary>The HTTP API's routes, shared by every host that serves it (Functions handler, <c>convnext-batch serve</c>).</summary>
public static class ApiRoutes
{
    public const string Predictions = "/api/predictions";
    public const string Prediction = "/api/predictions/{container}/{**blob}";
    public const string ValidationRuns = "/api/validation-runs";
    public const string ValidationRun = "/api/validation-runs/{id}";
    public const string Health = "/api/health";
    /// <summary>The whole health report; a function key is required (the anonymous <see cref="Health"/> answers the status alone).</summary>
    public const string HealthDetails = "/api/health/details";
}
