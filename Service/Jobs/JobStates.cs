namespace ConvNeXt.Batch.Service.Jobs;

/// <summary>A scoring job's status: Running until every planned chunk is counted (Completed), or cancelled, or failed.</summary>
public static class JobStates
{
    public const string Running = "Running";
    public const string Completed = "Completed";
    public const string Cancelled = "Cancelled";
    public const string Failed = "Failed";

    public static bool IsFinal(string status) => status is Completed or Cancelled or Failed;
}
