using Azure.Data.Tables;
using ConvNeXt.Batch.Scoring.Evaluation;
using ConvNeXt.Batch.Service.Storage;

namespace ConvNeXt.Batch.Service.Queries;

/// <summary>
/// Paired comparison of two validation runs on the same dataset (same dataset digest): both runs' per-image rows are
/// read in key order (one partition each, so the table returns them sorted by blob) and merged like two sorted
/// files, so memory holds counters, one counter triple per class and a few disagreements, never the images.
/// </summary>
public sealed class RunComparisons(StorageAccount storage)
{
    /// <summary>At most this many disagreeing images are kept for the thumbnail strip.</summary>
    public const int MaxDisagreements = 24;

    private static readonly string[] Columns =
        ["RowKey", "BlobName", "LabelIndex", "LabelWnid", "LabelName", "Status", "Top1Index", "Top1Wnid", "Top1Name", "Correct1", "Correct5"];

    /// <summary>The comparison of run <paramref name="runA"/> (A, the baseline) with <paramref name="runB"/> (B).</summary>
    /// <exception cref="RunNotFoundException">A run does not exist (HTTP 404).</exception>
    /// <exception cref="RunsNotComparableException">A run is not completed, or the two were measured on different datasets.</exception>
    public async Task<RunComparisonReport> CompareAsync(string runA, string runB, CancellationToken cancellationToken = default)
    {
        await storage.EnsureTablesAsync(cancellationToken);
        var a = await ReadRunAsync(runA, cancellationToken) ?? throw new RunNotFoundException(runA);
        var b = await ReadRunAsync(runB, cancellationToken) ?? throw new RunNotFoundException(runB);
        foreach (var run in new[] { a, b })
        {
            if (run.Status != RunStatus.Completed)
                throw new RunsNotComparableException($"run '{run.RowKey}' is {run.Status}; a comparison needs two completed runs");
            if (run.DatasetSha256 is null)
                throw new RunsNotComparableException($"run '{run.RowKey}' has no dataset digest (created before plan blobs); it cannot be paired image by image");
        }
        if (!string.Equals(a.DatasetSha256, b.DatasetSha256, StringComparison.OrdinalIgnoreCase))
            throw new RunsNotComparableException(
                $"runs '{a.RowKey}' and '{b.RowKey}' were measured on different datasets (digest {a.DatasetSha256![..12]}… of {a.DatasetContainer}/{a.DatasetPrefix} " +
                $"vs {b.DatasetSha256![..12]}… of {b.DatasetContainer}/{b.DatasetPrefix}); only runs on the same images can be paired");

        var merged = await storage.Resilience.ExecuteAsync(async ct => await MergeAsync(a.RowKey, b.RowKey, ct), cancellationToken);
        var counts = merged.Counts;
        var n = counts.Count;
        var topA = counts.TopA;
        var topB = counts.TopB;
        var top5A = ProportionInterval.Wilson(merged.Top5A, n);
        var top5B = ProportionInterval.Wilson(merged.Top5B, n);
        var delta = counts.Delta;
        return new RunComparisonReport(
            new ComparedRun(a.RowKey, a.ModelId, a.ModelSha256, topA.Estimate, top5A.Estimate, n, [topA.Lower, topA.Upper], [top5A.Lower, top5A.Upper]),
            new ComparedRun(b.RowKey, b.ModelId, b.ModelSha256, topB.Estimate, top5B.Estimate, n, [topB.Lower, topB.Upper], [top5B.Lower, top5B.Upper]),
            a.DatasetSha256!, a.DatasetContainer,
            counts.BothRight, counts.AOnly, counts.BOnly, counts.BothWrong, merged.Unmatched,
            "exact McNemar (two-sided binomial on the discordant images, not mid-p)", counts.PValue,
            delta.Estimate, [delta.Lower, delta.Upper], "Newcombe hybrid score (paired, method 10)",
            counts.VerdictText, counts.BNotWorse,
            merged.PerClass.OrderByDescending(c => Math.Abs(c.DeltaTop1)).ThenByDescending(c => c.Count).ThenBy(c => c.Index).ToList(),
            merged.Disagreements);
    }

    /// <summary>
    /// Is candidate run <paramref name="runB"/> not worse than baseline run <paramref name="runA"/> (the exact McNemar test
    /// does not find it significantly less accurate at α = 0.05)? What a promotion that requires a comparison asks.
    /// </summary>
    /// <exception cref="RunNotFoundException">A run does not exist.</exception>
    /// <exception cref="RunsNotComparableException">The runs cannot be paired.</exception>
    public async Task<bool> IsNotWorseAsync(string runA, string runB, CancellationToken cancellationToken = default) =>
        (await CompareAsync(runA, runB, cancellationToken)).BNotWorse;

    private sealed record Merged(PairedComparison Counts, long Top5A, long Top5B, long Unmatched, IReadOnlyList<ClassDelta> PerClass, IReadOnlyList<Disagreement> Disagreements);

    private async Task<Merged> MergeAsync(string runA, string runB, CancellationToken cancellationToken)
    {
        var table = storage.Table(TableNames.ValidationPredictions);
        long bothRight = 0, aOnly = 0, bOnly = 0, bothWrong = 0, top5A = 0, top5B = 0, unmatched = 0;
        var classes = new Dictionary<int, (string? Wnid, string? Name, long Count, long A, long B)>();
        var disagreements = new List<Disagreement>();
        await using var left = Rows(table, runA, cancellationToken).GetAsyncEnumerator(cancellationToken);
        await using var right = Rows(table, runB, cancellationToken).GetAsyncEnumerator(cancellationToken);
        var hasLeft = await left.MoveNextAsync();
        var hasRight = await right.MoveNextAsync();
        while (hasLeft || hasRight)
        {
            var order = !hasLeft ? 1 : !hasRight ? -1 : string.CompareOrdinal(left.Current.RowKey, right.Current.RowKey);
            if (order != 0)
            {
                // An image only one run has: not pairable. A completed run has a row for every image of its plan, and
                // the digests are equal, so this counts rows written outside the runs' plans.
                unmatched++;
                if (order < 0)
                    hasLeft = await left.MoveNextAsync();
                else
                    hasRight = await right.MoveNextAsync();
                continue;
            }
            var x = left.Current;
            var y = right.Current;
            // A failed image is a wrong answer for the run that failed it.
            var aRight = x.Status == RowStatus.Scored && x.Correct1;
            var bRight = y.Status == RowStatus.Scored && y.Correct1;
            switch (aRight, bRight)
            {
                case (true, true): bothRight++; break;
                case (true, false): aOnly++; break;
                case (false, true): bOnly++; break;
                default: bothWrong++; break;
            }
            top5A += x.Status == RowStatus.Scored && x.Correct5 ? 1 : 0;
            top5B += y.Status == RowStatus.Scored && y.Correct5 ? 1 : 0;
            var c = classes.GetValueOrDefault(x.LabelIndex);
            classes[x.LabelIndex] = (c.Wnid ?? x.LabelWnid, c.Name ?? x.LabelName, c.Count + 1, c.A + (aRight ? 1 : 0), c.B + (bRight ? 1 : 0));
            if (aRight != bRight && disagreements.Count < MaxDisagreements)
                disagreements.Add(new Disagreement(x.BlobName, x.LabelIndex, x.LabelName ?? x.LabelWnid,
                    Predicted(x), Predicted(y), aRight ? "A" : "B"));
            hasLeft = await left.MoveNextAsync();
            hasRight = await right.MoveNextAsync();
        }
        var perClass = classes.Select(kv => new ClassDelta(kv.Key, kv.Value.Wnid, kv.Value.Name, kv.Value.Count, kv.Value.A, kv.Value.B)).ToList();
        return new Merged(new PairedComparison(bothRight, aOnly, bOnly, bothWrong), top5A, top5B, unmatched, perClass, disagreements);
    }

    private static string? Predicted(ValidationPredictionEntity row) =>
        row.Status == RowStatus.Scored ? row.Top1Name ?? row.Top1Wnid ?? row.Top1Index?.ToString(System.Globalization.CultureInfo.InvariantCulture) : "(failed)";

    /// <summary>A run's rows in row-key order (one partition), only the columns a comparison reads.</summary>
    private static IAsyncEnumerable<ValidationPredictionEntity> Rows(TableClient table, string runId, CancellationToken cancellationToken) =>
        table.QueryAsync<ValidationPredictionEntity>(TableClient.CreateQueryFilter($"PartitionKey eq {runId}"), maxPerPage: 1000, select: Columns,
            cancellationToken: cancellationToken);

    private async Task<ValidationRunEntity?> ReadRunAsync(string runId, CancellationToken cancellationToken)
    {
        var row = await storage.Resilience.ExecuteAsync(async ct =>
            await storage.Table(TableNames.ValidationRuns).GetEntityIfExistsAsync<ValidationRunEntity>(ValidationRunEntity.PartitionKeyValue, runId, cancellationToken: ct),
            cancellationToken);
        return row.HasValue ? row.Value : null;
    }
}
