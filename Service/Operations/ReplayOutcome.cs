namespace ConvNeXt.Batch.Service.Operations;

/// <summary>What <see cref="DeadLetterService.ReplayAsync"/> did: the messages sent back (or, dry run, that would be), and the first failure.</summary>
public sealed record ReplayOutcome(IReadOnlyList<DeadLetter> Replayed, bool DryRun, string? Failure);
