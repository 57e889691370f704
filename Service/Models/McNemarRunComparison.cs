using System.Globalization;
using Azure.Data.Tables;
using ConvNeXt.Batch.Service.Storage;
using ConvNeXt.Batch.Service.Validation;

namespace ConvNeXt.Batch.Service.Models;

/// <summary>
/// The exact McNemar test on the per-image rows of two validation runs (<c>ValidationPredictions</c>): both
/// runs' partitions are read in key order and merged, so memory does not grow with the dataset. B is worse
/// only when it gets fewer images right than A and the two-sided exact binomial p-value on the discordant
/// pairs is below α = 0.05.
/// </summary>
public sealed class McNemarRunComparison(StorageAccount storage) : IRunComparison
{
    public const double Alpha = 0.05;

    private static readonly string[] Columns = ["RowKey", "Status", "Correct1"];

    public async Task<RunComparisonVerdict> CompareAsync(string runA, string runB, CancellationToken cancellationToken = default)
    {
        var a = await ReadRunAsync(runA, cancellationToken);
        var b = await ReadRunAsync(runB, cancellationToken);
        if (a.DatasetSha256 is null || a.DatasetSha256 != b.DatasetSha256)
            throw new ArgumentException($"runs {runA} and {runB} scored different datasets (dataset sha256 {Short(a.DatasetSha256)} vs {Short(b.DatasetSha256)}): they cannot be paired");

        long paired = 0, aOnly = 0, bOnly = 0;
        await using var left = Rows(runA, cancellationToken).GetAsyncEnumerator(cancellationToken);
        await using var right = Rows(runB, cancellationToken).GetAsyncEnumerator(cancellationToken);
        var hasLeft = await left.MoveNextAsync();
        var hasRight = await right.MoveNextAsync();
        while (hasLeft && hasRight)
        {
            var order = string.CompareOrdinal(left.Current.RowKey, right.Current.RowKey);
            if (order == 0)
            {
                // An image either run could not score is left out of the pairs: it says nothing about the models.
                if (left.Current.GetString("Status") == RowStatus.Scored && right.Current.GetString("Status") == RowStatus.Scored)
                {
                    paired++;
                    var ca = left.Current.GetBoolean("Correct1") == true;
                    var cb = right.Current.GetBoolean("Correct1") == true;
                    if (ca && !cb)
                        aOnly++;
                    else if (cb && !ca)
                        bOnly++;
                }
                hasLeft = await left.MoveNextAsync();
                hasRight = await right.MoveNextAsync();
            }
            else if (order < 0)
                hasLeft = await left.MoveNextAsync();
            else
                hasRight = await right.MoveNextAsync();
        }

        var p = ExactPValue(aOnly, bOnly);
        var worse = bOnly < aOnly && p < Alpha;
        var modelA = Model(a);
        var modelB = Model(b);
        var summary = string.Create(CultureInfo.InvariantCulture,
            $"{paired} paired images: {aOnly} only {modelA} ({runA}) gets right, {bOnly} only {modelB} ({runB}); exact McNemar p = {p:G4}: ") +
            (worse ? $"{modelB} is worse at α = {Alpha}" : bOnly > aOnly && p < Alpha ? $"{modelB} is better at α = {Alpha}" : $"no significant difference at α = {Alpha}");
        return new RunComparisonVerdict(runA, runB, modelA, modelB, paired, aOnly, bOnly, p, !worse, summary);
    }

    /// <summary>
    /// Two-sided exact McNemar p-value: 2 · P(X ≤ min(b, c)) for X ~ Binomial(b + c, ½), capped at 1
    /// (1 when there are no discordant pairs). Summed in log space, so it holds for any count.
    /// </summary>
    public static double ExactPValue(long b, long c)
    {
        var n = b + c;
        if (n == 0)
            return 1;
        var k = Math.Min(b, c);
        var logHalfN = n * Math.Log(0.5);
        double sum = 0, logTerm = logHalfN; // log(C(n,0) / 2^n)
        for (long i = 0; i <= k; i++)
        {
            if (i > 0)
                logTerm += Math.Log((double)(n - i + 1) / i);
            sum += Math.Exp(logTerm);
        }
        return Math.Min(1, 2 * sum);
    }

    private async IAsyncEnumerable<TableEntity> Rows(string runId, [System.Runtime.CompilerServices.EnumeratorCancellation] CancellationToken cancellationToken)
    {
        // Rows of a partition come back in RowKey order: the merge above relies on it.
        var table = storage.Table(TableNames.ValidationPredictions);
        string? continuation = null;
        do
        {
            var page = await storage.Resilience.ExecuteAsync(async ct =>
            {
                await foreach (var p in table.QueryAsync<TableEntity>(TableClient.CreateQueryFilter($"PartitionKey eq {runId}"), 1000, Columns, ct)
                                   .AsPages(continuation, 1000).WithCancellation(ct))
                    return p;
                return null;
            }, cancellationToken);
            if (page is null)
                yield break;
            foreach (var row in page.Values)
                yield return row;
            continuation = page.ContinuationToken;
        }
        while (continuation is not null);
    }

    private async Task<ValidationRunEntity> ReadRunAsync(string runId, CancellationToken cancellationToken)
    {
        if (RunIds.Problem(runId) is { } problem)
            throw new ArgumentException(problem);
        var row = await storage.TableCallAsync(TableNames.ValidationRuns, async (table, ct) =>
            await table.GetEntityIfExistsAsync<ValidationRunEntity>(ValidationRunEntity.PartitionKeyValue, runId, cancellationToken: ct), cancellationToken);
        if (!row.HasValue)
            throw new ArgumentException($"validation run {runId} does not exist");
        if (row.Value!.Status != RunStatus.Completed)
            throw new ArgumentException($"validation run {runId} is {row.Value.Status}, not Completed: only complete runs can be compared");
        return row.Value;
    }

    internal static string Model(ValidationRunEntity run) =>
        run.ModelName is { } name && run.ModelVersion is { } version ? $"{name}@{version}" : run.ModelId ?? "unknown model";

    private static string Short(string? sha) => sha is { Length: > 12 } ? sha[..12] + "…" : sha ?? "none";
}
