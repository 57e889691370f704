namespace ConvNeXt.Batch.Service.Models;

/// <summary>
/// Whether run B's model is not worse than run A's on the same images (paired, per image): what
/// <c>model promote --require A,B</c> asks before it switches the default model.
/// </summary>
public interface IRunComparison
{
    /// <exception cref="ArgumentException">A run does not exist, is not complete, or the two runs scored different datasets.</exception>
    Task<RunComparisonVerdict> CompareAsync(string runA, string runB, CancellationToken cancellationToken = default);
}
