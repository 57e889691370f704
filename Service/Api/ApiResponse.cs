namespace ConvNeXt.Batch.Service.Api;

/// <summary>
/// What an HTTP route answers, without any web framework: a status code and a body the host writes
/// as JSON with <see cref="Contracts.ContractJson.Options"/>. Every non-2xx body is an <see cref="ApiProblem"/>.
/// </summary>
public sealed record ApiResponse(int StatusCode, object Body)
{
    public bool IsSuccess => StatusCode is >= 200 and < 300;

    public static ApiResponse Ok(object body) => new(200, body);

    public static ApiResponse Created(object body) => new(201, body);

    public static ApiResponse Problem(int statusCode, string error) => new(statusCode, new ApiProblem(error));

    public static ApiResponse NotFound(string error = "not found") => Problem(404, error);
}

/// <summary>The body of every error answer: <c>{ "error": "..." }</c>.</summary>
public sealed record ApiProblem(string Error);

/// <summary>An answer that also carries what the host must do next (e.g. the chunk messages of a new run).</summary>
public sealed record ApiResponse<T>(ApiResponse Response, T? Value) where T : class;
