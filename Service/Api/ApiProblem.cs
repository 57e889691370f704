namespace ConvNeXt.Batch.Service.Api;

/// <summary>The body of every error answer, on every route and host: <c>{ "error": "..." }</c>.</summary>
public sealed record ApiProblem(string Error);
