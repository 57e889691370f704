using ConvNeXt.Batch.Scoring.Pipeline;

namespace ConvNeXt.Batch.Service.Local;

/// <summary>How a <see cref="LocalValidation"/> runs.</summary>
public sealed record LocalValidationOptions
{
    /// <summary>The pipeline of a validation in this process (a recorded run uses the validation service's).</summary>
    public required ScoringPipelineOptions Pipeline { get; init; }

    /// <summary>How many most-confused class pairs to report.</summary>
    public int Confused { get; init; } = 10;
}
