using System.Text;
using ConvNeXt.Batch.Service.Queries;
using static ConvNeXt.Batch.Service.Reports.HtmlReport;

namespace ConvNeXt.Batch.Service.Reports;

/// <summary>A disagreeing image with its thumbnail's <c>src</c> (null when none can be shown).</summary>
public sealed record DisagreementImage(Disagreement Image, string? Source);

/// <summary>Renders the paired comparison of two runs: the verdict, both accuracies, the McNemar table, per-class deltas, a strip of disagreements.</summary>
public static class RunComparisonPage
{
    /// <summary>Classes shown in the per-class table (largest |delta| first).</summary>
    public const int ClassRows = 30;

    public static string Render(RunComparisonReport report, IReadOnlyList<DisagreementImage> images, Func<string, string> runLink)
    {
        var html = new StringBuilder();
        var a = report.A;
        var b = report.B;
        html.Append($"<h1>Run <code id=\"run-a\">{E(a.RunId)}</code> (A) against <code id=\"run-b\">{E(b.RunId)}</code> (B)</h1>");
        html.Append($"<p class=\"meta\">Dataset digest <code id=\"dataset-sha256\">{E(report.DatasetSha256)}</code> in <code>{E(report.Container)}</code> · ")
            .Append($"<span id=\"paired-count\" data-value=\"{a.Count}\">{Number(a.Count)} images paired</span>")
            .Append(report.Unmatched > 0 ? $" · <span class=\"bad\" id=\"unmatched\" data-value=\"{report.Unmatched}\">{Number(report.Unmatched)} rows in only one run (left out)</span>" : "")
            .Append("</p>");
        var verdictClass = report.Verdict.StartsWith("B better", StringComparison.Ordinal) ? "ok" : report.Verdict.StartsWith("B worse", StringComparison.Ordinal) ? "bad" : "muted";
        html.Append($"<p id=\"verdict\" class=\"{verdictClass}\" data-not-worse=\"{(report.BNotWorse ? "true" : "false")}\">{E(report.Verdict)}</p>");

        html.Append("<h2>Accuracy on the same images</h2><table id=\"accuracy\"><tr><th>run</th><th>model</th><th>top-1</th><th>95 % (Wilson)</th><th>top-5</th><th>95 % (Wilson)</th></tr>");
        foreach (var (side, run) in new[] { ("a", a), ("b", b) })
            html.Append($"<tr id=\"run-{side}-row\"><td><a href=\"{E(runLink(run.RunId))}\">{side.ToUpperInvariant()}: {E(run.RunId)}</a></td><td>{E(run.Model)}</td>")
                .Append($"<td class=\"n\" data-value=\"{Raw(run.Top1)}\">{Percent(run.Top1)}</td><td class=\"n\">{Percent(run.Top1Ci[0])} – {Percent(run.Top1Ci[1])}</td>")
                .Append($"<td class=\"n\" data-value=\"{Raw(run.Top5)}\">{Percent(run.Top5)}</td><td class=\"n\">{Percent(run.Top5Ci[0])} – {Percent(run.Top5Ci[1])}</td></tr>");
        html.Append("</table>");

        html.Append("<h2>Paired test</h2><table id=\"mcnemar\"><tr><th></th><th>B right</th><th>B wrong</th></tr>")
            .Append($"<tr><th>A right</th><td class=\"n\" id=\"both-right\" data-value=\"{report.BothRight}\">{Number(report.BothRight)}</td><td class=\"n\" id=\"a-only\" data-value=\"{report.AOnly}\">{Number(report.AOnly)}</td></tr>")
            .Append($"<tr><th>A wrong</th><td class=\"n\" id=\"b-only\" data-value=\"{report.BOnly}\">{Number(report.BOnly)}</td><td class=\"n\" id=\"both-wrong\" data-value=\"{report.BothWrong}\">{Number(report.BothWrong)}</td></tr></table>")
            .Append($"<p>p-value <b id=\"p-value\" data-value=\"{Raw(report.PValue)}\">{report.PValue.ToString("G4", System.Globalization.CultureInfo.InvariantCulture)}</b> ({E(report.Test)}). ")
            .Append($"Top-1 delta B − A <b id=\"delta\" data-value=\"{Raw(report.DeltaTop1)}\">{Points(report.DeltaTop1)}</b>, 95 % interval ")
            .Append($"<span id=\"delta-ci\">{Points(report.DeltaTop1Ci[0])} to {Points(report.DeltaTop1Ci[1])}</span> ({E(report.IntervalMethod)}).</p>")
            .Append("<p class=\"meta\">Only the images the runs disagree on carry evidence: the test asks whether the split between ‘only A right’ and ‘only B right’ could be a coin toss.</p>");

        html.Append($"<h2>Where they disagree</h2><p class=\"meta\">The first {images.Count} of {Number(report.AOnly + report.BOnly)} images exactly one run got right, in blob order.</p><div class=\"thumbs\" id=\"disagreements\">");
        foreach (var image in images)
        {
            var d = image.Image;
            html.Append($"<figure data-blob=\"{E(d.Blob)}\" data-right=\"{E(d.Right)}\">")
                .Append(image.Source is null ? "" : $"<img class=\"thumb\" src=\"{E(image.Source)}\" alt=\"{E(d.Blob)}\" loading=\"lazy\">")
                .Append($"<figcaption><b class=\"{(d.Right == "B" ? "ok" : "bad")}\">only {E(d.Right)} right</b><br>{E(d.Label)}<br>A: {E(d.APredicted)}<br>B: {E(d.BPredicted)}</figcaption></figure>");
        }
        html.Append("</div>");

        html.Append($"<h2>Per class (largest change first)</h2><table id=\"per-class\"><tr><th>class</th><th>images</th><th>A top-1</th><th>B top-1</th><th>B − A</th></tr>");
        foreach (var c in report.PerClass.Take(ClassRows))
            html.Append($"<tr data-index=\"{c.Index}\"><td>{E(c.Wnid)} {E(c.Name?.Split(',')[0])}</td><td class=\"n\">{c.Count}</td>")
                .Append($"<td class=\"n\">{Number(c.ACorrect)}</td><td class=\"n\">{Number(c.BCorrect)}</td><td class=\"n\" data-value=\"{Raw(c.DeltaTop1)}\">{Points(c.DeltaTop1)}</td></tr>");
        html.Append("</table>");
        return Document($"Compare {a.RunId} and {b.RunId}", html.ToString());
    }

    private static string Points(double fraction) =>
        (fraction * 100).ToString("+0.00;-0.00;0.00", System.Globalization.CultureInfo.InvariantCulture) + " pts";
}
