using System.Globalization;
using System.Net;
using System.Text;

namespace ConvNeXt.Batch.Service.Reports;

/// <summary>
/// The page shell every report shares: inline CSS, no script, and a Content-Security-Policy that lets the page
/// load nothing but its own thumbnails route and <c>data:</c> images, so no report reaches the internet.
/// </summary>
public static class HtmlReport
{
    /// <summary>Also sent as a response header by the API.</summary>
    public const string ContentSecurityPolicy = "default-src 'none'; img-src 'self' data:; style-src 'unsafe-inline'; form-action 'self'; base-uri 'none'";

    public static string E(string? text) => WebUtility.HtmlEncode(text ?? "");

    /// <summary>A fraction as a percentage with two decimals ("81.91 %").</summary>
    public static string Percent(double fraction) => (fraction * 100).ToString("0.00", CultureInfo.InvariantCulture) + " %";

    /// <summary>Round-trip text of a number, for <c>data-value</c> attributes that tests and scripts read back.</summary>
    public static string Raw(double value) => value.ToString("R", CultureInfo.InvariantCulture);

    public static string Number(long value) => value.ToString("N0", CultureInfo.InvariantCulture);

    /// <summary>
    /// A name that may wrap only after a separator (<c>/ _ - .</c>), never inside a token: CSS <c>break-all</c> split
    /// <c>ILSVRC2012_val_00000001</c> mid-number.
    /// </summary>
    public static string Breakable(string? name)
    {
        var html = new StringBuilder();
        foreach (var c in name ?? "")
        {
            html.Append(E(c.ToString()));
            if (c is '/' or '_' or '-' or '.')
                html.Append("<wbr>");
        }
        return html.ToString();
    }

    public static string Time(DateTimeOffset? at) => at?.UtcDateTime.ToString("yyyy-MM-dd HH:mm:ss 'UTC'", CultureInfo.InvariantCulture) ?? "";

    public static string Document(string title, string body)
    {
        var html = new StringBuilder(body.Length + 4096);
        html.Append("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">")
            .Append("<meta http-equiv=\"Content-Security-Policy\" content=\"").Append(ContentSecurityPolicy).Append("\">")
            .Append("<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"><link rel=\"icon\" href=\"data:,\">")
            .Append("<title>").Append(E(title)).Append("</title><style>").Append(Css).Append("</style></head><body>")
            .Append(body)
            .Append("<footer>ConvNeXt.Batch report, generated ").Append(Time(DateTimeOffset.UtcNow)).Append("</footer></body></html>\n");
        return html.ToString();
    }

    /// <summary>A chart in a figure the tests (and readers) find by id.</summary>
    public static string Figure(string id, string svg, string caption) =>
        $"<figure class=\"chart\" id=\"chart-{id}\">{svg}<figcaption>{E(caption)}</figcaption></figure>";

    private const string Css = """
        body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Arial,sans-serif;margin:0 auto;max-width:1100px;padding:16px 24px;color:#1d1d1f;background:#fafafa}
        h1{font-size:22px;margin:8px 0 4px}h2{font-size:17px;margin:28px 0 8px;border-bottom:1px solid #ddd;padding-bottom:4px}
        .meta{color:#555;margin:0 0 12px}.meta code{font-size:12px}
        table{border-collapse:collapse;background:#fff;margin:6px 0}th,td{border:1px solid #ddd;padding:4px 8px;text-align:left;vertical-align:top}
        th{background:#f0f0f3;font-weight:600}td.n{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
        .ok{color:#2e7d32;font-weight:600}.bad{color:#c62828;font-weight:600}.muted{color:#777}
        figure.chart{background:#fff;border:1px solid #ddd;margin:10px 0;padding:6px;display:inline-block;vertical-align:top}
        figure.chart svg{display:block;max-width:100%;height:auto}figcaption{color:#555;font-size:12px;padding:4px 2px 0}
        .thumbs{display:flex;gap:6px;flex-wrap:wrap;min-width:380px}.thumbs figure{margin:0;font-size:11px;max-width:120px;overflow-wrap:normal;word-break:normal}
        img.thumb{display:block;max-width:112px;max-height:112px;border:1px solid #ccc;background:#eee}
        form.filters{display:flex;gap:10px;flex-wrap:wrap;align-items:end;background:#fff;border:1px solid #ddd;padding:8px;margin:8px 0}
        form.filters label{display:flex;flex-direction:column;font-size:12px;color:#555}
        ol.top5{margin:0;padding-left:18px;font-size:12px;min-width:280px}ol.top5 b{display:inline-block;min-width:52px;font-weight:600}td.blob{min-width:200px;max-width:280px;overflow-wrap:normal;word-break:normal}td.t{white-space:nowrap}nav.pages a{margin-right:14px}
        details summary{cursor:pointer;margin:8px 0}footer{color:#888;font-size:11px;margin:28px 0 8px}
        nav.site{display:flex;gap:16px;flex-wrap:wrap;border-bottom:1px solid #ddd;padding:4px 0 8px;margin-bottom:8px}nav.site a{white-space:nowrap}
        """;
}
