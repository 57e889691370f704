using System.Text;
using Calibration = ConvNeXt.Batch.Scoring.Evaluation.Calibration;
using ProportionInterval = ConvNeXt.Batch.Scoring.Evaluation.ProportionInterval;
using ConvNeXt.Batch.Service.Queries;
using static ConvNeXt.Batch.Service.Reports.HtmlReport;

namespace ConvNeXt.Batch.Service.Reports;

/// <summary>Errors of a run with one reason.</summary>
public sealed record ReasonCount(string Reason, long Count);

/// <summary>A misclassified image shown under its confused pair.</summary>
public sealed record PairImage(string Blob, string? Source, double? Probability);

/// <summary>A most-confused pair with class names and a few of its images.</summary>
public sealed record ConfusedPairView(ConfusedPair Pair, string TrueName, string PredictedName, IReadOnlyList<PairImage> Images);

/// <summary>Everything the validation run page shows.</summary>
public sealed record ValidationRunPageData(
    ValidationRunReport Report,
    IReadOnlyList<ReasonCount> Errors,
    IReadOnlyList<ConfusedPairView> Pairs,
    int WorstClasses);

/// <summary>Renders the validation run report: accuracy with intervals against the published figures, per-class accuracy, confusions, calibration, errors.</summary>
public static class ValidationRunPage
{
    /// <summary>Fewest images per class (median) for the worst-classes chart to mean something (ImageNet val has 50).</summary>
    public const int MinImagesPerClassForChart = 5;

    /// <summary>Whether a chart of the worst classes says anything: not when most classes have a handful of images.</summary>
    public static bool PerClassChartIsMeaningful(IReadOnlyList<ClassAccuracy> classes) =>
        classes.Count > 0 && MedianCount(classes) >= MinImagesPerClassForChart;

    private static long MedianCount(IReadOnlyList<ClassAccuracy> classes) =>
        classes.Count == 0 ? 0 : classes.Select(c => c.Count).Order().ElementAt(classes.Count / 2);

    public static string Render(ValidationRunPageData data)
    {
        var report = data.Report;
        var run = report.Run;
        var scored = report.PerClass.Sum(c => c.Count);
        var top1 = ProportionInterval.Wilson(report.PerClass.Sum(c => c.Top1Correct), scored);
        var top5 = ProportionInterval.Wilson(report.PerClass.Sum(c => c.Top5Correct), scored);
        var bins = report.Calibration ?? [];
        var ece = bins.Sum(b => b.Images) == scored && scored > 0 ? Calibration.ExpectedCalibrationError(bins) : (double?)null;
        var html = new StringBuilder();

        html.Append($"<h1>Validation run <code id=\"run-id\">{E(run.RunId)}</code></h1>");
        html.Append($"<p class=\"meta\">Model <b id=\"model-id\">{E(run.ModelId)}</b> · sha256 <code>{E(run.ModelSha256)}</code><br>")
            .Append($"Dataset <code>{E(run.DatasetContainer)}/{E(run.DatasetPrefix)}</code> (labels: {E(run.LabelSource)}) · status <b id=\"run-status\">{E(run.Status)}</b>")
            .Append($" · trigger {E(run.Trigger)} · created {Time(run.CreatedAt)}{(run.FinishedAt is { } f ? " · finished " + Time(f) : "")}<br>")
            .Append($"<span id=\"image-count\" data-value=\"{run.ImageCount ?? run.ExpectedImageCount}\">{Number(run.ImageCount ?? run.ExpectedImageCount)} images</span>: ")
            .Append($"<span id=\"scored-count\" data-value=\"{scored}\">{Number(scored)} scored</span>, ")
            .Append($"<span id=\"error-count\" data-value=\"{data.Errors.Sum(e => e.Count)}\">{Number(data.Errors.Sum(e => e.Count))} errors</span>")
            .Append($" · chunks {report.ChunksDone}/{run.ChunkCount}</p>");
        if (run.Trained == false)
            html.Append("<p class=\"bad\" id=\"untrained\">UNTRAINED: this model has random weights; its accuracy is chance, not a measurement of a trained model.</p>");
        if (run.Status == Storage.RunStatus.Failed)
            html.Append($"<p class=\"bad\" id=\"run-failure\">This run failed: {E(run.FailureReason ?? "no reason recorded")}. The figures cover the chunks scored before it stopped.</p>");
        else if (run.Status == Storage.RunStatus.Stalled)
            html.Append($"<p class=\"bad\" id=\"run-failure\">This run has stalled: {E(run.FailureReason ?? "no progress")}. The timer's sweep will end it; the figures cover the chunks scored so far.</p>");
        else if (run.Status != Storage.RunStatus.Completed)
            html.Append("<p class=\"bad\">This run is not complete: the figures cover the chunks scored so far.</p>");

        html.Append("<h2>Accuracy against the published figures</h2><table id=\"accuracy\"><tr><th>metric</th><th>measured</th><th>95 % interval (Wilson)</th><th>published</th><th>measured − published</th><th>verdict</th></tr>");
        AccuracyRow(html, "top1", "top-1", top1, Published(run.ReferenceTop1));
        AccuracyRow(html, "top5", "top-5", top5, Published(run.ReferenceTop5));
        html.Append("</table>");
        html.Append($"<p class=\"meta\">Published: {E(run.ReferenceSource ?? "none recorded in the model")}. The interval is the sampling uncertainty of {Number(scored)} images: a published figure inside it is not a regression.</p>");
        html.Append("<table id=\"calibration\"><tr><th>mean top-1 confidence</th><th>expected calibration error (ECE, 15 bins)</th></tr><tr>")
            .Append($"<td class=\"n\" id=\"mean-confidence\" data-value=\"{Raw(run.MeanConfidence ?? 0)}\">{Percent(run.MeanConfidence ?? 0)}</td>")
            .Append($"<td class=\"n\" id=\"ece\" data-value=\"{(ece is { } e ? Raw(e) : "")}\">{(ece is { } e2 ? Percent(e2) : "not recorded")}</td></tr></table>");

        html.Append("<h2>Per-class accuracy</h2>");
        var ranked = report.PerClass.Where(c => c.Count > 0).OrderBy(c => c.Top1).ThenByDescending(c => c.Count).ThenBy(c => c.Index).ToList();
        var worst = ranked.Take(data.WorstClasses).ToList();
        if (PerClassChartIsMeaningful(ranked))
            html.Append(Figure("per-class",
                ReportCharts.PerClassAccuracy(worst.Select(c => new ChartBar($"{ClassName(c)} ({c.Top1Correct}/{c.Count})", c.Top1)).ToList(),
                    $"Worst {worst.Count} of {ranked.Count} classes by top-1 accuracy"),
                "Worst classes first; the label shows right/images of the class."));
        else
            html.Append($"<p class=\"muted\" id=\"per-class-note\">No per-class chart: the classes have a median of {Number(MedianCount(ranked))} image(s) each, so a class's top-1 is mostly 0 % or 100 % and its worst classes say nothing. The table lists every class.</p>");
        html.Append($"<details><summary>All {ranked.Count} classes</summary><table id=\"per-class\"><tr><th>#</th><th>class</th><th>wnid</th><th>images</th><th>top-1</th><th>top-5</th></tr>");
        for (var i = 0; i < ranked.Count; i++)
        {
            var c = ranked[i];
            html.Append($"<tr><td class=\"n\">{i + 1}</td><td>{E(ClassName(c))}</td><td><code>{E(c.Wnid)}</code></td><td class=\"n\">{c.Count}</td><td class=\"n\">{Percent(c.Top1)}</td><td class=\"n\">{Percent(c.Top5)}</td></tr>");
        }
        html.Append("</table></details>");

        html.Append("<h2>Most-confused pairs</h2>");
        if (data.Pairs.Count == 0)
            html.Append("<p class=\"muted\" id=\"confused\">No misclassified images.</p>");
        else
        {
            html.Append("<table id=\"confused\"><tr><th>true class</th><th>predicted as</th><th>images</th><th>some of them</th></tr>");
            foreach (var pair in data.Pairs)
            {
                html.Append($"<tr class=\"pair\"><td>{E(pair.TrueName)}</td><td>{E(pair.PredictedName)}</td><td class=\"n\">{pair.Pair.Count}</td><td><div class=\"thumbs\">");
                foreach (var image in pair.Images)
                    html.Append("<figure>").Append(Thumbnail(image.Source, image.Blob))
                        .Append($"<figcaption>{Breakable(Path.GetFileName(image.Blob))}{(image.Probability is { } p ? $" · p {p:0.00}" : "")}</figcaption></figure>");
                html.Append("</div></td></tr>");
            }
            html.Append("</table>");
        }

        html.Append("<h2>Confidence and calibration</h2>");
        html.Append(Figure("confidence", ReportCharts.ConfidenceHistogram(bins), "How many images got each top-1 probability, right and wrong."));
        html.Append(Figure("reliability", ReportCharts.ReliabilityDiagram(bins, ece),
            "Per bin: accuracy (bars) against mean confidence; shaded = the gap. ECE = the gaps weighted by images."));

        html.Append("<h2>Errors by reason</h2>");
        if (data.Errors.Count == 0)
            html.Append("<p class=\"muted\" id=\"errors\">Every image was scored.</p>");
        else
        {
            html.Append(Figure("errors", ReportCharts.Counts(data.Errors.Select(e => new ChartBar(e.Reason, e.Count)).ToList(), "Images that could not be scored", "images", "errors"),
                "Each failed image ends as a row with its reason; none is counted in the accuracy."));
            html.Append("<table id=\"errors\"><tr><th>reason</th><th>images</th></tr>");
            foreach (var error in data.Errors)
                html.Append($"<tr><td>{E(error.Reason)}</td><td class=\"n\" data-reason=\"{E(error.Reason)}\">{error.Count}</td></tr>");
            html.Append("</table>");
        }
        return Document($"Validation run {run.RunId}", html.ToString());
    }

    /// <summary>Published accuracies are recorded as percentages (81.91) or fractions (0.8191).</summary>
    public static double? Published(double? reference) => reference is { } r ? (r > 1 ? r / 100 : r) : null;

    internal static string Thumbnail(string? source, string blob) =>
        source is null ? "<span class=\"muted\">no preview</span>" : $"<img class=\"thumb\" src=\"{E(source)}\" alt=\"{E(blob)}\">";

    private static string ClassName(ClassAccuracy c) => c.Name ?? c.Wnid ?? $"class {c.Index}";

    private static void AccuracyRow(StringBuilder html, string id, string name, ProportionInterval measured, double? published)
    {
        html.Append($"<tr><th>{name}</th><td class=\"n\" id=\"{id}\" data-value=\"{Raw(measured.Estimate)}\">{Percent(measured.Estimate)}</td>")
            .Append($"<td class=\"n\" id=\"{id}-interval\" data-lower=\"{Raw(measured.Lower)}\" data-upper=\"{Raw(measured.Upper)}\">{Percent(measured.Lower)} – {Percent(measured.Upper)}</td>");
        if (published is { } p)
        {
            var verdict = p > measured.Upper ? ("bad", "below the published figure beyond the interval")
                : p < measured.Lower ? ("ok", "above the published figure beyond the interval")
                : ("ok", "consistent with the published figure");
            html.Append($"<td class=\"n\" id=\"{id}-published\" data-value=\"{Raw(p)}\">{Percent(p)}</td>")
                .Append($"<td class=\"n\">{(measured.Estimate - p) * 100:+0.00;-0.00} points</td><td class=\"{verdict.Item1}\" id=\"{id}-verdict\">{verdict.Item2}</td></tr>");
        }
        else
            html.Append("<td class=\"muted\">not recorded</td><td></td><td></td></tr>");
    }
}
