using System.Globalization;
using ConvNeXt.Batch.Service.Queries;

namespace ConvNeXt.Batch.Service.Api;

/// <summary>The query string of a request, by name (case-insensitive, as ASP.NET Core and the Functions host read it).</summary>
public sealed class ApiQuery
{
    private readonly Dictionary<string, string?> _values;

    public ApiQuery(IEnumerable<KeyValuePair<string, string?>> values)
    {
        _values = new Dictionary<string, string?>(StringComparer.OrdinalIgnoreCase);
        foreach (var (name, value) in values)
            _values[name] = value;
    }

    public static ApiQuery Empty { get; } = new([]);

    public string? this[string name] => _values.TryGetValue(name, out var value) && !string.IsNullOrEmpty(value) ? value : null;

    public int? Int(string name) =>
        this[name] is not { } value ? null
        : int.TryParse(value, NumberStyles.Integer, CultureInfo.InvariantCulture, out var number) ? number
        : throw new QueryArgumentException($"{name} must be an integer");

    public bool Flag(string name) => string.Equals(this[name], "true", StringComparison.OrdinalIgnoreCase);
}
