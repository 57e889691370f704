using System.Text.Json;
using System.Text.Json.Serialization;
using ConvNeXt.Batch.Service.Contracts;

namespace ConvNeXt.Batch.Functions.Handler;

/// <summary>
/// What the Functions host posts to <c>/{FunctionName}</c> for a non-HTTP (or not purely HTTP) function:
/// <c>{ "Data": { bindingName: value }, "Metadata": { triggerMetadata } }</c>.
/// </summary>
public sealed class InvocationRequest
{
    [JsonPropertyName("Data")]
    public Dictionary<string, JsonElement> Data { get; set; } = new(StringComparer.OrdinalIgnoreCase);

    [JsonPropertyName("Metadata")]
    public Dictionary<string, JsonElement> Metadata { get; set; } = new(StringComparer.OrdinalIgnoreCase);

    public JsonElement? Binding(string name)
    {
        foreach (var pair in Data)
            if (string.Equals(pair.Key, name, StringComparison.OrdinalIgnoreCase))
                return pair.Value;
        return null;
    }

    /// <summary>A per-message metadata array of a batched trigger (e.g. <c>MessageIdArray</c>), as JSON items.</summary>
    public IReadOnlyList<JsonElement> MetadataArray(string name) =>
        TryMetadata(name, out var value) ? JsonPayload.Items(value) : [];

    public bool TryMetadata(string name, out JsonElement value)
    {
        foreach (var pair in Metadata)
            if (string.Equals(pair.Key, name, StringComparison.OrdinalIgnoreCase))
            {
                value = pair.Value;
                return true;
            }
        value = default;
        return false;
    }
}

/// <summary>
/// What the handler answers: <c>{ "Outputs": { bindingName: value }, "Logs": [ ... ], "ReturnValue": ... }</c>.
/// A non-2xx status code fails the invocation (the host then retries or abandons the messages).
/// </summary>
public sealed class InvocationResponse
{
    [JsonPropertyName("Outputs")]
    public Dictionary<string, object?> Outputs { get; set; } = new();

    [JsonPropertyName("Logs")]
    public List<string> Logs { get; set; } = new();

    [JsonPropertyName("ReturnValue")]
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public object? ReturnValue { get; set; }
}

/// <summary>The <c>res</c> output of an HTTP-triggered function invoked through the custom payload.</summary>
public sealed class HttpOutput
{
    [JsonPropertyName("statusCode")]
    public int StatusCode { get; set; }

    [JsonPropertyName("body")]
    public string? Body { get; set; }

    [JsonPropertyName("headers")]
    public Dictionary<string, string> Headers { get; set; } = new() { ["Content-Type"] = "application/json" };
}

/// <summary>
/// The request of an HTTP trigger as the host puts it in <c>Data.req</c> when the request is not
/// forwarded: Url, Method, Query, Headers (name → values), Params (route values), Body.
/// </summary>
public sealed class HttpTriggerRequest
{
    public string Url { get; init; } = "";
    public string Method { get; init; } = "";
    public IReadOnlyDictionary<string, string> Query { get; init; } = new Dictionary<string, string>();
    public IReadOnlyDictionary<string, string[]> Headers { get; init; } = new Dictionary<string, string[]>();
    public IReadOnlyDictionary<string, string> Params { get; init; } = new Dictionary<string, string>();
    public string? Body { get; init; }

    public string? Header(string name) =>
        Headers.FirstOrDefault(h => string.Equals(h.Key, name, StringComparison.OrdinalIgnoreCase)).Value?.FirstOrDefault();

    public string? QueryValue(string name) =>
        Query.FirstOrDefault(h => string.Equals(h.Key, name, StringComparison.OrdinalIgnoreCase)).Value;

    public static HttpTriggerRequest Parse(JsonElement req)
    {
        req = JsonPayload.Unwrap(req);
        if (req.ValueKind != JsonValueKind.Object)
            throw new FormatException("the HTTP trigger value is not an object");
        return new HttpTriggerRequest
        {
            Url = Get(req, "Url") is { ValueKind: JsonValueKind.String } u ? u.GetString()! : "",
            Method = Get(req, "Method") is { ValueKind: JsonValueKind.String } m ? m.GetString()! : "",
            Query = StringMap(Get(req, "Query")),
            Params = StringMap(Get(req, "Params")),
            Headers = HeaderMap(Get(req, "Headers")),
            Body = Get(req, "Body") switch
            {
                { ValueKind: JsonValueKind.String } b => b.GetString(),
                { ValueKind: JsonValueKind.Object or JsonValueKind.Array } b => b.GetRawText(),
                _ => null,
            },
        };
    }

    private static JsonElement? Get(JsonElement obj, string name)
    {
        foreach (var p in obj.EnumerateObject())
            if (string.Equals(p.Name, name, StringComparison.OrdinalIgnoreCase))
                return p.Value;
        return null;
    }

    private static Dictionary<string, string> StringMap(JsonElement? value)
    {
        var map = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
        if (value is not { } v)
            return map;
        v = JsonPayload.Unwrap(v);
        if (v.ValueKind != JsonValueKind.Object)
            return map;
        foreach (var p in v.EnumerateObject())
            map[p.Name] = p.Value.ValueKind switch
            {
                JsonValueKind.String => p.Value.GetString()!,
                JsonValueKind.Array => string.Join(',', p.Value.EnumerateArray().Select(JsonPayload.Text)),
                _ => p.Value.GetRawText(),
            };
        return map;
    }

    private static Dictionary<string, string[]> HeaderMap(JsonElement? value)
    {
        var map = new Dictionary<string, string[]>(StringComparer.OrdinalIgnoreCase);
        if (value is not { } v)
            return map;
        v = JsonPayload.Unwrap(v);
        if (v.ValueKind != JsonValueKind.Object)
            return map;
        foreach (var p in v.EnumerateObject())
            map[p.Name] = p.Value.ValueKind == JsonValueKind.Array
                ? p.Value.EnumerateArray().Select(JsonPayload.Text).ToArray()
                : [JsonPayload.Text(p.Value)];
        return map;
    }
}
