using System.Net;
using System.Text.Json;

namespace ConvNeXt.Batch.TestSupport;

/// <summary>
/// Requests whose answers do not depend on stored data, and the answer the API map gives each: the handler's tests
/// and serve's tests send the same probes to their host, so the two hosts are held to one HTTP surface.
/// </summary>
public static class ApiProbes
{
    /// <summary>Path, status, and the content type's media type with the problem's text (null for a 2xx page).</summary>
    public static readonly IReadOnlyList<(string Path, HttpStatusCode Status, string MediaType, string? Error)> Expected =
    [
        ("/api/validation-runs/no-such-run", HttpStatusCode.NotFound, "application/json", "not found"),
        ("/api/validation-runs/no-such-run/report", HttpStatusCode.NotFound, "application/json", "not found"),
        ("/api/predictions?container=images&top=abc", HttpStatusCode.BadRequest, "application/json", "top must be an integer"),
        ("/api/predictions/report?below=abc", HttpStatusCode.BadRequest, "application/json", "below must be a number"),
        ("/api/thumbnails/no-such-container/a.jpg", HttpStatusCode.NotFound, "application/json", "container 'no-such-container' is not shown in reports"),
        ("/api/reports/history?container=no-such-container", HttpStatusCode.OK, "text/html", null),
    ];

    /// <summary>Sends each probe (through <paramref name="authorize"/>, which adds a host's key) and returns what came back.</summary>
    public static async Task<List<(string Path, HttpStatusCode Status, string MediaType, string? Error)>> SendAsync(HttpClient http,
        Action<HttpRequestMessage>? authorize = null)
    {
        var answers = new List<(string, HttpStatusCode, string, string?)>();
        foreach (var (path, _, _, _) in Expected)
        {
            using var request = new HttpRequestMessage(HttpMethod.Get, path);
            authorize?.Invoke(request);
            using var response = await http.SendAsync(request);
            var media = response.Content.Headers.ContentType?.MediaType ?? "";
            string? error = null;
            if (media == "application/json")
            {
                using var doc = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
                error = doc.RootElement.GetProperty("error").GetString();
            }
            answers.Add((path, response.StatusCode, media, error));
        }
        return answers;
    }
}
