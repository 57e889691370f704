using System.Text.Json;

namespace ConvNeXt.Batch.Scoring.Inference;

/// <summary>Time ONNX Runtime spent in one operator type over a profiled session.</summary>
public sealed record OperatorTime(string Operator, int Nodes, long Calls, double Milliseconds, double Share);

/// <summary>
/// Reads the Chrome-trace JSON that ONNX Runtime's profiler writes (<see cref="InferenceOptions.ProfilePrefix"/>)
/// and sums the node events by operator type (<c>args.op_name</c>), most expensive first. Fused
/// nodes appear under the fused operator (e.g. <c>FusedConv</c>, <c>Gelu</c>, <c>BiasGelu</c>), which
/// is what actually ran.
/// </summary>
public static class OperatorProfile
{
    public static IReadOnlyList<OperatorTime> Summarize(string profileJsonPath)
    {
        using var stream = File.OpenRead(profileJsonPath);
        using var doc = JsonDocument.Parse(stream);
        var byOperator = new Dictionary<string, (HashSet<string> Nodes, long Calls, double Microseconds)>(StringComparer.Ordinal);
        foreach (var e in doc.RootElement.EnumerateArray())
        {
            if (!e.TryGetProperty("cat", out var cat) || cat.GetString() != "Node"
                || !e.TryGetProperty("name", out var name) || !(name.GetString() ?? "").EndsWith("_kernel_time", StringComparison.Ordinal)
                || !e.TryGetProperty("args", out var args) || !args.TryGetProperty("op_name", out var op))
                continue;
            var key = op.GetString() ?? "?";
            var entry = byOperator.GetValueOrDefault(key, ([], 0, 0));
            entry.Nodes.Add(name.GetString()!);
            byOperator[key] = (entry.Nodes, entry.Calls + 1, entry.Microseconds + e.GetProperty("dur").GetDouble());
        }
        var total = byOperator.Values.Sum(v => v.Microseconds);
        return byOperator
            .Select(kv => new OperatorTime(kv.Key, kv.Value.Nodes.Count, kv.Value.Calls, kv.Value.Microseconds / 1000, total > 0 ? kv.Value.Microseconds / total : 0))
            .OrderByDescending(o => o.Milliseconds)
            .ToList();
    }
}
