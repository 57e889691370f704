namespace ConvNeXt.Batch.Service.Api;

/// <summary>The HTTP API's routes, one table for every host that serves it (Functions handler, <c>convnext-batch serve</c>).</summary>
public static class ApiRoutes
{
    public const string Predictions = "/api/predictions";
    public const string Prediction = "/api/predictions/{container}/{**blob}";
    public const string ValidationRuns = "/api/validation-runs";
    public const string ValidationRunsCompare = "/api/validation-runs/compare";
    public const string ValidationRun = "/api/validation-runs/{id}";
    public const string Health = "/api/health";
    public const string RunReport = "/api/validation-runs/{id}/report";
    public const string History = "/api/reports/history";
    public const string PredictionsReport = "/api/predictions/report";
    public const string CompareReport = "/api/validation-runs/compare/report";
    public const string JobReport = "/api/scoring-jobs/{id}/report";
    public const string Thumbnail = "/api/thumbnails/{container}/{**blob}";

    /// <summary>Where thumbnails are linked from the report pages (<see cref="Thumbnail"/> without its parameters).</summary>
    public const string Thumbnails = "/api/thumbnails";

    /// <summary>The whole health report; a function key is required (the anonymous <see cref="Health"/> answers the status alone).</summary>
    public const string HealthDetails = "/api/health/details";
}
