using System.Text;
using ConvNeXt.Batch.Service.Reports;

namespace ConvNeXt.Batch.Service.Api;

/// <summary>
/// What an HTTP route answers, without any web framework: a status code and either a body the host writes as JSON
/// with <see cref="Contracts.ContractJson.Options"/>, or <see cref="Content"/> written as it is (a report page, a
/// thumbnail). Every non-2xx body is an <see cref="ApiProblem"/>.
/// </summary>
public sealed record ApiResponse(int StatusCode, object? Body)
{
    /// <summary>Bytes written as they are, with their content type and headers, instead of a JSON body.</summary>
    public ApiContent? Content { get; init; }

    public bool IsSuccess => StatusCode is >= 200 and < 300;

    public static ApiResponse Ok(object body) => new(200, body);

    public static ApiResponse Created(object body) => new(201, body);

    public static ApiResponse Problem(int statusCode, string error) => new(statusCode, new ApiProblem(error));

    public static ApiResponse NotFound(string error = "not found") => Problem(404, error);

    public static ApiResponse Html(string html) => new(200, null)
    {
        Content = new ApiContent("text/html; charset=utf-8", Encoding.UTF8.GetBytes(html), new Dictionary<string, string>
        {
            ["Content-Security-Policy"] = HtmlReport.ContentSecurityPolicy,
            ["X-Content-Type-Options"] = "nosniff",
            ["Cache-Control"] = "no-store", // live tables
            // A page's own URL may carry an access key: no link or image request sends it on.
            ["Referrer-Policy"] = "no-referrer",
        }),
    };

    public static ApiResponse Jpeg(byte[] jpeg) => new(200, null)
    {
        Content = new ApiContent("image/jpeg", jpeg, new Dictionary<string, string>
        {
            ["X-Content-Type-Options"] = "nosniff",
            ["Cache-Control"] = "private, max-age=300",
        }),
    };
}
