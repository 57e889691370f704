using System.Text.Json;

namespace ConvNeXt.Batch.Service.Contracts;

/// <summary>
/// The Functions host serializes binding values that are not JSON objects (strings, arrays) with
/// <c>JsonConvert.SerializeObject</c> before putting them in the payload, so a message body or an
/// array of bodies can arrive as a JSON string holding JSON text. These helpers peel that off.
/// </summary>
public static class JsonPayload
{
    /// <summary>Follows JSON strings whose content is itself a JSON object, array or string.</summary>
    public static JsonElement Unwrap(JsonElement element)
    {
        for (var depth = 0; depth < 4 && element.ValueKind == JsonValueKind.String; depth++)
        {
            var text = element.GetString()!;
            var trimmed = text.AsSpan().TrimStart();
            if (trimmed.Length == 0 || (trimmed[0] != '{' && trimmed[0] != '[' && trimmed[0] != '"'))
                return element;
            try
            {
                using var inner = JsonDocument.Parse(text);
                element = inner.RootElement.Clone();
            }
            catch (JsonException)
            {
                return element;
            }
        }
        return element;
    }

    /// <summary>An array, or a string holding an array; anything else becomes a one-item list.</summary>
    public static IReadOnlyList<JsonElement> Items(JsonElement element)
    {
        var unwrapped = Unwrap(element);
        if (unwrapped.ValueKind == JsonValueKind.Array)
            return unwrapped.EnumerateArray().Select(e => e.Clone()).ToList();
        if (unwrapped.ValueKind is JsonValueKind.Undefined or JsonValueKind.Null)
            return [];
        return [unwrapped];
    }

    /// <summary>The text of a message body: strings as they are, anything else as its JSON.</summary>
    public static string Text(JsonElement element) =>
        element.ValueKind == JsonValueKind.String ? element.GetString()! : element.GetRawText();
}
