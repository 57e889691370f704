using System.Globalization;
using System.Text;
using ConvNeXt.Batch.Service.Jobs;
using static ConvNeXt.Batch.Service.Reports.HtmlReport;

namespace ConvNeXt.Batch.Service.Reports;

/// <summary>Renders a scoring job's page: status, planning, counts, rate (reload to refresh; the page has no script).</summary>
public static class ScoringJobPage
{
    public static string Render(ScoringJobStatus job, string predictionsLink)
    {
        var html = new StringBuilder();
        var cls = job.Status switch { JobStates.Completed => "ok", JobStates.Failed or JobStates.Cancelled => "bad", _ => "muted" };
        html.Append($"<h1>Scoring job <code id=\"job-id\">{E(job.JobId)}</code></h1>")
            .Append($"<p class=\"meta\">Container <code>{E(job.Container)}/{E(job.Prefix)}</code> · model <b id=\"model\">{E(job.Model)}</b> · created {Time(job.CreatedAt)}")
            .Append(job.FinishedAt is { } f ? " · finished " + Time(f) : "").Append("</p>")
            .Append($"<p>Status <b id=\"status\" class=\"{cls}\">{E(job.Status)}</b>{(job.FailureReason is { } r ? " — " + E(r) : "")}</p>");
        html.Append("<table id=\"progress\"><tr><th>planned</th><th>done</th><th>skipped (already scored at this ETag)</th><th>failed</th><th>chunks</th><th>images/s</th></tr><tr>")
            .Append($"<td class=\"n\" id=\"planned\" data-value=\"{job.Planned}\">{Number(job.Planned)}{(job.PlanningDone ? "" : " (listing…)")}</td>")
            .Append($"<td class=\"n\" id=\"done\" data-value=\"{job.Done}\">{Number(job.Done)}</td>")
            .Append($"<td class=\"n\" id=\"skipped\" data-value=\"{job.Skipped}\">{Number(job.Skipped)}</td>")
            .Append($"<td class=\"n\" id=\"failed\" data-value=\"{job.Failed}\">{Number(job.Failed)}</td>")
            .Append($"<td class=\"n\">{Number(job.ChunksDone)} / {Number(job.ChunksPlanned)}</td>")
            .Append($"<td class=\"n\" id=\"rate\">{job.ImagesPerSecond?.ToString("0.0", CultureInfo.InvariantCulture) ?? "–"}</td></tr></table>");
        html.Append($"<p><a href=\"{E(predictionsLink)}\">Browse the container's predictions</a>. Cancel with <code>POST /api/scoring-jobs/{E(job.JobId)}/cancel</code> or <code>convnext-batch jobs cancel {E(job.JobId)}</code>.</p>");
        return Document($"Scoring job {job.JobId}", html.ToString());
    }
}
