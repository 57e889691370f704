using ConvNeXt.Batch.Service.Jobs;

namespace ConvNeXt.Batch.Api;

/// <summary>
/// Where a new scoring job's first planner step goes when the host runs jobs itself (<c>serve</c>, in process). The
/// Functions handler registers none: there <c>POST /api/scoring-jobs</c> is the CreateScoringJob function, whose
/// Service Bus output binding sends the step.
/// </summary>
public interface IScoringJobSink
{
    void Start(JobPlanMessage first);
}
