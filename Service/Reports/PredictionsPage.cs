using System.Globalization;
using System.Text;
using ConvNeXt.Batch.Service.Queries;
using static ConvNeXt.Batch.Service.Reports.HtmlReport;

namespace ConvNeXt.Batch.Service.Reports;

/// <summary>One row of the predictions browser with its thumbnail source.</summary>
public sealed record PredictionView(PredictionRecord Prediction, string? Thumbnail);

/// <summary>The predictions browser: a container/prefix's rows with thumbnails and top-5, filters, keyset paging.</summary>
public static class PredictionsPage
{
    /// <param name="pageLink">The href of this page for a continuation token (null = first page), filters kept.</param>
    /// <param name="links">Where the filter form submits, and the fields it keeps (a page token).</param>
    public static string Render(PredictionQuery query, IReadOnlyList<PredictionView> rows, string? nextToken, Func<string?, string> pageLink,
        PageLinks links)
    {
        var html = new StringBuilder($"<h1>Predictions in <code id=\"container\">{E(query.Container)}/{E(query.Prefix)}</code></h1>");
        ArgumentNullException.ThrowIfNull(links);
        html.Append($"<form class=\"filters\" method=\"get\" id=\"filters\" action=\"{E(links.FormAction(Api.ApiRoutes.PredictionsReport))}\">")
            .Append($"<label>container<input name=\"container\" value=\"{E(query.Container)}\" required></label>")
            .Append($"<label>prefix<input name=\"prefix\" value=\"{E(query.Prefix)}\"></label>")
            .Append("<label>status<select name=\"status\">")
            .Append(Option("", "any", query.Status)).Append(Option("Scored", "Scored", query.Status)).Append(Option("Failed", "Failed", query.Status))
            .Append("</select></label>")
            .Append($"<label>top-1 class (wnid)<input name=\"class\" value=\"{E(query.Wnid)}\" placeholder=\"n01440764\" pattern=\"n[0-9]{{8}}\"></label>")
            .Append($"<label>confidence below<input name=\"below\" type=\"number\" min=\"0\" max=\"1\" step=\"0.01\" value=\"{(query.ConfidenceBelow is { } b ? b.ToString(CultureInfo.InvariantCulture) : "")}\"></label>")
            .Append($"<label>per page<input name=\"top\" type=\"number\" min=\"1\" max=\"1000\" value=\"{query.Top}\"></label>");
        foreach (var (name, value) in links.FormFields())
            html.Append($"<input type=\"hidden\" name=\"{E(name)}\" value=\"{E(value)}\">");
        html.Append("<button type=\"submit\">Apply</button></form>");

        html.Append($"<p class=\"meta\"><span id=\"row-count\" data-value=\"{rows.Count}\">{rows.Count} rows on this page</span>{(nextToken is null ? " (last page)" : "")}.</p>");
        html.Append("<table id=\"predictions\"><tr><th>image</th><th>blob</th><th>status</th><th>top-5</th><th>model</th><th>scored</th></tr>");
        foreach (var row in rows)
        {
            var p = row.Prediction;
            html.Append($"<tr class=\"prediction\" data-blob=\"{E(p.Blob)}\" data-status=\"{E(p.Status)}\"{(p.Top.Count > 0 ? $" data-top1=\"{Raw(p.Top[0].Probability)}\"" : "")}>")
                .Append("<td>").Append(ValidationRunPage.Thumbnail(row.Thumbnail, p.Blob)).Append("</td>")
                .Append($"<td class=\"blob\"><code>{Breakable(p.Blob)}</code></td>")
                .Append(p.Status == Storage.RowStatus.Scored ? "<td class=\"ok\">Scored</td>" : $"<td class=\"bad\">{E(p.ErrorReason ?? p.Status)}<br><span class=\"muted\">{E(p.ErrorMessage)}</span></td>")
                .Append("<td><ol class=\"top5\">");
            foreach (var c in p.Top.Take(5))
            {
                // ImageNet names list synonyms ("tench, Tinca tinca"): the first one, the rest on hover.
                var name = c.Name ?? c.Wnid ?? c.Index.ToString(CultureInfo.InvariantCulture);
                var comma = name.IndexOf(',', StringComparison.Ordinal);
                html.Append($"<li title=\"{E(name)}\"><b>{Percent(c.Probability)}</b> {E(comma > 0 ? name[..comma] : name)} <span class=\"muted\">{E(c.Wnid)}</span></li>");
            }
            html.Append($"</ol></td><td>{E(p.ModelId)}</td><td class=\"n\">{Time(p.ScoredAt)}</td></tr>");
        }
        html.Append("</table><nav class=\"pages\">");
        if (query.ContinuationToken is not null)
            html.Append($"<a id=\"first-page\" href=\"{E(pageLink(null))}\">« first page</a>");
        if (nextToken is not null)
            html.Append($"<a id=\"next-page\" href=\"{E(pageLink(nextToken))}\">next page »</a>");
        html.Append("</nav>");
        return Document($"Predictions {query.Container}/{query.Prefix}", html.ToString());
    }

    private static string Option(string value, string text, string? selected) =>
        $"<option value=\"{E(value)}\"{(string.Equals(value, selected ?? "", StringComparison.Ordinal) ? " selected" : "")}>{E(text)}</option>";
}
