namespace ConvNeXt.Batch.Scoring.Evaluation;

/// <summary>What a paired comparison says about the second classifier (B) against the first (A).</summary>
public enum PairedVerdict
{
    NoSignificantDifference,
    BBetter,
    BWorse,
}
