namespace ConvNeXt.Batch.Service.Api;

/// <summary>The HTTP API's routes, shared by every host that serves it (Functions handler, <c>convnext-batch serve</c>).</summary>
public static class ApiRoutes
{
    public const string Predictions = "/api/predictions";
    public const string Prediction = "/api/predictions/{container}/{**blob}";
    public const string ValidationRuns = "/api/validation-runs";
    public const string ValidationRunsCompare = "/api/validation-runs/compare";
    public const string ValidationRun = "/api/validation-runs/{id}";
    public const string Health = "/api/health";
}
