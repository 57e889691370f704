using Azure.Data.Tables;
using ConvNeXt.Batch.Scoring.Labels;
using ConvNeXt.Batch.Service.Queries;
using ConvNeXt.Batch.Service.Storage;

namespace ConvNeXt.Batch.Service.Reports;

/// <summary>
/// Builds the report pages (HTML) from the result tables. Both hosts call it: the API serves the pages with
/// thumbnails through its authorized route, the CLI writes a self-contained file with the images embedded.
/// </summary>
/// <param name="runs">The host's run queries (with its stalled-run check).</param>
public sealed class ReportService(StorageAccount storage, ReportOptions options, ValidationQueries runs, PredictionQueries predictions, RunComparisons comparisons)
{
    private readonly ReportOptions _options = options;
    private readonly ValidationQueries _runs = runs;
    private readonly PredictionQueries _predictions = predictions;

    public ReportOptions Options => _options;

    /// <summary>The validation run report; null when there is no such run.</summary>
    /// <param name="labels">Names the classes (the model's label table) when given; else names come from the image rows.</param>
    public async Task<string?> ValidationRunAsync(string runId, IImageLinks images, ClassLabels? labels = null, CancellationToken cancellationToken = default)
    {
        var report = await _runs.GetRunAsync(runId, labels, cancellationToken);
        if (report is null)
            return null;
        var confused = report.MostConfused.Take(_options.ConfusedPairs).ToList();
        var (errors, pairRows) = await ScanRunRowsAsync(runId, confused.Select(p => (p.TrueIndex, p.PredictedIndex)).ToList(), cancellationToken);
        var pairs = new List<ConfusedPairView>();
        foreach (var pair in confused)
        {
            var rows = pairRows.GetValueOrDefault((pair.TrueIndex, pair.PredictedIndex)) ?? [];
            var shown = new List<PairImage>();
            foreach (var row in rows)
                shown.Add(new PairImage(row.BlobName, await images.ThumbnailAsync(report.Run.DatasetContainer, row.BlobName, cancellationToken), row.Top1Probability));
            var first = rows.FirstOrDefault();
            pairs.Add(new ConfusedPairView(pair,
                Name(labels, pair.TrueIndex) ?? first?.LabelName ?? pair.TrueWnid ?? $"class {pair.TrueIndex}",
                Name(labels, pair.PredictedIndex) ?? first?.Top1Name ?? pair.PredictedWnid ?? $"class {pair.PredictedIndex}",
                shown));
        }
        return ValidationRunPage.Render(new ValidationRunPageData(report, errors, pairs, _options.WorstClasses));
    }

    /// <summary>The paired comparison of run <paramref name="runA"/> (A) with <paramref name="runB"/> (B), with thumbnails of images they disagree on.</summary>
    /// <exception cref="RunNotFoundException">A run does not exist.</exception>
    /// <exception cref="RunsNotComparableException">The runs are not completed or were measured on different datasets.</exception>
    public async Task<string> ComparisonAsync(string runA, string runB, IImageLinks images, Func<string, string> runLink, CancellationToken cancellationToken = default)
    {
        var report = await comparisons.CompareAsync(runA, runB, cancellationToken);
        var shown = new List<DisagreementImage>(report.Disagreements.Count);
        foreach (var d in report.Disagreements)
            shown.Add(new DisagreementImage(d, await images.ThumbnailAsync(report.Container, d.Blob, cancellationToken)));
        return RunComparisonPage.Render(report, shown, runLink);
    }

    /// <summary>The run history of every dataset, or of the datasets in <paramref name="container"/> (and <paramref name="prefix"/>).</summary>
    public async Task<string> HistoryAsync(PageLinks links, string? container = null, string? prefix = null, CancellationToken cancellationToken = default)
    {
        var runs = new List<ValidationRunSummary>();
        string? token = null;
        do
        {
            var page = await _runs.ListRunsAsync(1000, token, cancellationToken);
            runs.AddRange(page.Items);
            token = page.ContinuationToken;
        }
        while (token is not null);
        var selected = runs.Where(r => (string.IsNullOrEmpty(container) || r.DatasetContainer == container)
                                       && (string.IsNullOrEmpty(prefix) || string.Equals(r.DatasetPrefix ?? "", prefix, StringComparison.Ordinal)));
        return RunHistoryPage.Render(RunHistoryPage.Build(selected), links);
    }

    /// <summary>One page of the predictions browser.</summary>
    /// <exception cref="QueryArgumentException">A filter or token that cannot be used (HTTP 400).</exception>
    public async Task<string> PredictionsAsync(PredictionQuery query, IImageLinks images, Func<PredictionQuery, string> pageLink,
        PageLinks? links = null, CancellationToken cancellationToken = default)
    {
        if (string.IsNullOrEmpty(query.Container))
            throw new QueryArgumentException("container is required");
        if (query.Wnid is { Length: > 0 } wnid && !(wnid.Length == 9 && wnid[0] == 'n' && wnid[1..].All(char.IsAsciiDigit)))
            throw new QueryArgumentException("class must be a WordNet id such as n01440764");
        query = query with { Top = query.Top ?? _options.PageSize };
        var page = await _predictions.ListAsync(query, cancellationToken);
        var rows = new List<PredictionView>(page.Items.Count);
        foreach (var row in page.Items)
            rows.Add(new PredictionView(row, row.Status == RowStatus.Scored ? await images.ThumbnailAsync(row.Container, row.Blob, cancellationToken) : null));
        return PredictionsPage.Render(query, rows, page.ContinuationToken, token => pageLink(query with { ContinuationToken = token }),
            links ?? PageLinks.Direct);
    }

    private static string? Name(ClassLabels? labels, int index) =>
        labels is not null && index >= 0 && index < labels.Count ? labels[index].Name : null;

    /// <summary>
    /// The run's error rows counted by reason and the first images of each confused pair, from one scan of the
    /// run's partition: both filter on columns that are not keys, so each separate query would scan it again
    /// (nine scans for the report's eight pairs, about 450 requests at 50,000 images).
    /// </summary>
    private async Task<(IReadOnlyList<ReasonCount> Errors, Dictionary<(int True, int Predicted), List<ValidationPredictionEntity>> Pairs)> ScanRunRowsAsync(
        string runId, IReadOnlyList<(int True, int Predicted)> pairs, CancellationToken cancellationToken)
    {
        var table = storage.Table(TableNames.ValidationPredictions);
        var wanted = new List<string> { TableClient.CreateQueryFilter($"Status eq {RowStatus.Failed}") };
        wanted.AddRange(pairs.Select(p => TableClient.CreateQueryFilter($"LabelIndex eq {p.True} and Top1Index eq {p.Predicted}")));
        var filter = $"{TableClient.CreateQueryFilter($"PartitionKey eq {runId}")} and ({string.Join(" or ", wanted.Select(w => $"({w})"))})";
        try
        {
            return await ScanAsync(table, filter, pairs, cancellationToken);
        }
        catch (Azure.RequestFailedException e) when (StorageAccount.IsTableNotFound(e))
        {
            // No image row was ever written (a run that scored nothing): a report only reads, so the table is not created.
            return ([], pairs.Distinct().ToDictionary(p => p, _ => new List<ValidationPredictionEntity>()));
        }
    }

    private async Task<(IReadOnlyList<ReasonCount> Errors, Dictionary<(int True, int Predicted), List<ValidationPredictionEntity>> Pairs)> ScanAsync(
        TableClient table, string filter, IReadOnlyList<(int True, int Predicted)> pairs, CancellationToken cancellationToken)
    {
        return await storage.Resilience.ExecuteAsync(async ct =>
        {
            var counts = new Dictionary<string, long>(StringComparer.Ordinal);
            var images = pairs.Distinct().ToDictionary(p => p, _ => new List<ValidationPredictionEntity>());
            await foreach (var row in table.QueryAsync<ValidationPredictionEntity>(filter, cancellationToken: ct))
            {
                if (row.Status == RowStatus.Failed)
                {
                    var reason = row.ErrorReason ?? Scoring.Pipeline.FailureReason.Failed;
                    counts[reason] = counts.GetValueOrDefault(reason) + 1;
                }
                else if (row.Top1Index is { } predicted && images.TryGetValue((row.LabelIndex, predicted), out var shown) && shown.Count < _options.ImagesPerPair)
                    shown.Add(row);
            }
            IReadOnlyList<ReasonCount> errors = counts.OrderByDescending(kv => kv.Value).ThenBy(kv => kv.Key, StringComparer.Ordinal)
                .Select(kv => new ReasonCount(kv.Key, kv.Value)).ToList();
            return (errors, images);
        }, cancellationToken);
    }
}
