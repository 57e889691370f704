using System.Text;
using ConvNeXt.Batch.Service.Queries;
using ConvNeXt.Batch.Service.Storage;
using ProportionInterval = ConvNeXt.Batch.Scoring.Evaluation.ProportionInterval;
using static ConvNeXt.Batch.Service.Reports.HtmlReport;

namespace ConvNeXt.Batch.Service.Reports;

/// <summary>A completed run on the history page: accuracies with their 95 % intervals, and why it is flagged (null = not).</summary>
public sealed record HistoryRun(ValidationRunSummary Run, ProportionInterval Top1, ProportionInterval Top5, double? PublishedTop1, double? PublishedTop5, string? Flag);

/// <summary>The runs of one model (id and sha256) on one dataset, oldest first.</summary>
public sealed record HistoryModel(string? ModelId, string? ModelSha256, IReadOnlyList<HistoryRun> Runs)
{
    /// <summary>Random weights: the name says UNTRAINED so its runs are not read as a real model's.</summary>
    public bool Untrained => Runs.Any(r => r.Run.Trained == false);

    public string Name => $"{ModelId ?? "unknown model"} ({(ModelSha256 is { Length: > 12 } s ? s[..12] : ModelSha256 ?? "no sha256")})" +
        (Untrained ? " UNTRAINED" : "");
}

/// <summary>A dataset (container, prefix, label source) and every model run on it.</summary>
public sealed record HistoryDataset(string Container, string? Prefix, string? LabelSource, IReadOnlyList<HistoryModel> Models)
{
    public string Name => $"{Container}/{Prefix}" + (LabelSource is null ? "" : $" (labels {LabelSource})");
}

/// <summary>
/// The run history: completed runs grouped by dataset, then by model id and sha256. A run is flagged when it
/// dropped beyond its own 95 % interval: its baseline (the published accuracy, else the model's previous run
/// on the same dataset) lies above the interval's upper bound, for top-1 or top-5.
/// </summary>
public static class RunHistoryPage
{
    public static IReadOnlyList<HistoryDataset> Build(IEnumerable<ValidationRunSummary> runs) =>
        runs.Where(r => r.Status == RunStatus.Completed && r.ScoredCount is > 0 && r.Top1 is not null && r.Top5 is not null)
            .GroupBy(r => (r.DatasetContainer, r.DatasetPrefix, r.LabelSource))
            .OrderBy(g => g.Key.DatasetContainer, StringComparer.Ordinal).ThenBy(g => g.Key.DatasetPrefix, StringComparer.Ordinal)
            .Select(dataset => new HistoryDataset(dataset.Key.DatasetContainer, dataset.Key.DatasetPrefix, dataset.Key.LabelSource,
                dataset.GroupBy(r => (r.ModelId, r.ModelSha256))
                    .OrderBy(g => g.Key.ModelId, StringComparer.Ordinal).ThenBy(g => g.Key.ModelSha256, StringComparer.Ordinal)
                    .Select(model => new HistoryModel(model.Key.ModelId, model.Key.ModelSha256, Flag(model.OrderBy(r => r.CreatedAt).ThenBy(r => r.RunId, StringComparer.Ordinal))))
                    .ToList()))
            .ToList();

    private static List<HistoryRun> Flag(IEnumerable<ValidationRunSummary> runs)
    {
        var list = new List<HistoryRun>();
        foreach (var run in runs)
        {
            var n = run.ScoredCount!.Value;
            var top1 = ProportionInterval.Wilson((long)Math.Round(run.Top1!.Value * n), n);
            var top5 = ProportionInterval.Wilson((long)Math.Round(run.Top5!.Value * n), n);
            var published1 = ValidationRunPage.Published(run.ReferenceTop1);
            var published5 = ValidationRunPage.Published(run.ReferenceTop5);
            var previous = list.Count > 0 ? list[^1] : null;
            string? flag = null;
            if (published1 is { } p1 && p1 > top1.Upper)
                flag = FormattableString.Invariant($"top-1 below published {p1 * 100:0.00} % beyond its interval");
            else if (published5 is { } p5 && p5 > top5.Upper)
                flag = FormattableString.Invariant($"top-5 below published {p5 * 100:0.00} % beyond its interval");
            else if (published1 is null && previous is not null && previous.Top1.Estimate > top1.Upper)
                flag = FormattableString.Invariant($"top-1 below the previous run's {previous.Top1.Estimate * 100:0.00} % beyond its interval");
            else if (published5 is null && previous is not null && previous.Top5.Estimate > top5.Upper)
                flag = FormattableString.Invariant($"top-5 below the previous run's {previous.Top5.Estimate * 100:0.00} % beyond its interval");
            list.Add(new HistoryRun(run, top1, top5, published1, published5, flag));
        }
        return list;
    }

    /// <param name="links">Where the run reports and the comparisons are (<see cref="PageLinks"/>).</param>
    public static string Render(IReadOnlyList<HistoryDataset> datasets, PageLinks links)
    {
        ArgumentNullException.ThrowIfNull(links);
        var html = new StringBuilder("<h1>Validation run history</h1>");
        html.Append($"<p class=\"meta\">Top-1 and top-5 of every completed run, per dataset and model (id and sha256), with the published accuracy as a dashed line and each run's 95 % Wilson interval as a whisker. <span id=\"run-total\" data-value=\"{datasets.Sum(d => d.Models.Sum(m => m.Runs.Count))}\">{datasets.Sum(d => d.Models.Sum(m => m.Runs.Count))} runs</span>, <span id=\"flag-total\" data-value=\"{datasets.Sum(d => d.Models.Sum(m => m.Runs.Count(r => r.Flag is not null)))}\">{datasets.Sum(d => d.Models.Sum(m => m.Runs.Count(r => r.Flag is not null)))} flagged</span>.</p>");
        if (datasets.Count == 0)
            html.Append("<p class=\"muted\">No completed validation runs yet.</p>");
        for (var d = 0; d < datasets.Count; d++)
        {
            var dataset = datasets[d];
            html.Append($"<section class=\"dataset\" id=\"dataset-{d}\"><h2>{E(dataset.Name)}</h2>");
            foreach (var (metric, pick, published) in new (string, Func<HistoryRun, Scoring.Evaluation.ProportionInterval>, Func<HistoryRun, double?>)[]
                     { ("top-1", r => r.Top1, r => r.PublishedTop1), ("top-5", r => r.Top5, r => r.PublishedTop5) })
            {
                var series = dataset.Models.Select(m => new HistorySeries(m.Name,
                    m.Runs.Select(r => new HistoryPoint(r.Run.CreatedAt, pick(r), r.Flag is not null)).ToList(),
                    m.Runs.Select(published).LastOrDefault(p => p is not null))).ToList();
                var id = $"history-{d}-{metric}";
                html.Append(Figure(id, ReportCharts.History(series, $"{metric} accuracy over time", id), $"{metric} of each run of {dataset.Name}."));
            }
            // Each run against the dataset's run before it (any model): the paired comparison is one click from here.
            var previous = dataset.Models.SelectMany(m => m.Runs).OrderBy(r => r.Run.CreatedAt).ThenBy(r => r.Run.RunId, StringComparer.Ordinal)
                .Select(r => r.Run.RunId).ToList();
            html.Append("<table class=\"runs\"><tr><th>run</th><th>created</th><th>model</th><th>images</th><th>top-1</th><th>95 % interval</th><th>top-5</th><th>95 % interval</th><th>published top-1 / top-5</th><th>flag</th><th>paired comparison</th></tr>");
            foreach (var model in dataset.Models)
                foreach (var run in model.Runs.AsEnumerable().Reverse())
                {
                    html.Append($"<tr class=\"run{(run.Flag is null ? "" : " flagged")}\" data-run=\"{E(run.Run.RunId)}\"><td><a href=\"{E(links.To(RunReport(run.Run.RunId)))}\">{E(run.Run.RunId)}</a></td>")
                        .Append($"<td class=\"t\">{Time(run.Run.CreatedAt)}</td><td>{E(model.Name)}</td><td class=\"n\">{run.Run.ScoredCount}</td>")
                        .Append($"<td class=\"n top1\" data-value=\"{Raw(run.Run.Top1!.Value)}\">{Percent(run.Top1.Estimate)}</td><td class=\"n\">{Percent(run.Top1.Lower)} – {Percent(run.Top1.Upper)}</td>")
                        .Append($"<td class=\"n top5\" data-value=\"{Raw(run.Run.Top5!.Value)}\">{Percent(run.Top5.Estimate)}</td><td class=\"n\">{Percent(run.Top5.Lower)} – {Percent(run.Top5.Upper)}</td>")
                        .Append($"<td class=\"n\">{(run.PublishedTop1 is { } p1 ? Percent(p1) : "–")} / {(run.PublishedTop5 is { } p5 ? Percent(p5) : "–")}</td>")
                        .Append(run.Flag is null ? "<td class=\"ok\">ok</td>" : $"<td class=\"bad flag\">{E(run.Flag)}</td>")
                        .Append(previous.IndexOf(run.Run.RunId) is > 0 and var at
                            ? $"<td><a class=\"compare\" href=\"{E(links.To($"{Api.ApiRoutes.CompareReport}?a={Uri.EscapeDataString(previous[at - 1])}&b={Uri.EscapeDataString(run.Run.RunId)}"))}\">vs the run before</a></td>"
                            : "<td class=\"muted\">first run</td>")
                        .Append("</tr>");
                }
            html.Append("</table></section>");
        }
        return Document("Validation run history", html.ToString());
    }

    /// <summary>The API path of a run's report page.</summary>
    public static string RunReport(string runId) => Api.ApiRoutes.RunReport.Replace("{id}", Uri.EscapeDataString(runId), StringComparison.Ordinal);
}
