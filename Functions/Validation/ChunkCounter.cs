using System.Text.Json;
using System.Text.Json.Serialization;
using ConvNeXt.Batch.Functions.Queries;
using ConvNeXt.Batch.Scoring.Inference;

namespace ConvNeXt.Batch.Functions.Validation;

/// <summary>
/// Accuracy counts of one chunk, kept as integers only (confidence in millionths) so that merging the
/// chunk rows gives the same totals in any order: a run's totals are a sum of rows, never a running
/// float. Serialized into <c>ValidationChunks.CountsJson</c>.
/// </summary>
public sealed class ChunkCounter
{
    private readonly int _classes;
    private readonly Dictionary<int, int[]> _perClass = new(); // label -> [count, top1, top5]
    private readonly Dictionary<(int True, int Predicted), int> _confused = new();

    public ChunkCounter(int classCount) => _classes = classCount;

    public int Count { get; private set; }
    public int Failed { get; private set; }
    public int Top1Correct { get; private set; }
    public int Top5Correct { get; private set; }
    /// <summary>Sum of top-1 probabilities in millionths (integers add exactly in any order).</summary>
    public long ConfidenceMicros { get; private set; }

    /// <summary>Counts one image; a failed image (no prediction) counts as wrong.</summary>
    public void Add(int label, IReadOnlyList<ClassScore>? top)
    {
        Count++;
        var entry = Entry(label);
        entry[0]++;
        if (top is not { Count: > 0 })
        {
            Failed++;
            return;
        }
        ConfidenceMicros += (long)Math.Round(top[0].Probability * 1_000_000d);
        if (top[0].Index == label)
        {
            Top1Correct++;
            entry[1]++;
        }
        else
        {
            _confused[(label, top[0].Index)] = _confused.GetValueOrDefault((label, top[0].Index)) + 1;
        }
        if (top.Take(5).Any(t => t.Index == label))
        {
            Top5Correct++;
            entry[2]++;
        }
    }

    public void Merge(ChunkCounter other)
    {
        Count += other.Count;
        Failed += other.Failed;
        Top1Correct += other.Top1Correct;
        Top5Correct += other.Top5Correct;
        ConfidenceMicros += other.ConfidenceMicros;
        foreach (var (label, e) in other._perClass)
        {
            var mine = Entry(label);
            for (var i = 0; i < 3; i++)
                mine[i] += e[i];
        }
        foreach (var (pair, n) in other._confused)
            _confused[pair] = _confused.GetValueOrDefault(pair) + n;
    }

    public double Top1 => Count == 0 ? 0 : (double)Top1Correct / Count;
    public double Top5 => Count == 0 ? 0 : (double)Top5Correct / Count;
    public double MeanConfidence => Count - Failed == 0 ? 0 : ConfidenceMicros / 1_000_000d / (Count - Failed);

    public string ToJson() => JsonSerializer.Serialize(new Dto
    {
        Classes = _classes,
        Count = Count,
        Failed = Failed,
        Top1 = Top1Correct,
        Top5 = Top5Correct,
        ConfidenceMicros = ConfidenceMicros,
        PerClass = _perClass.OrderBy(p => p.Key).Select(p => new[] { p.Key, p.Value[0], p.Value[1], p.Value[2] }).ToList(),
        Confused = _confused.OrderBy(p => p.Key).Select(p => new[] { p.Key.True, p.Key.Predicted, p.Value }).ToList(),
    });

    public static ChunkCounter FromJson(string json)
    {
        var dto = JsonSerializer.Deserialize<Dto>(json) ?? throw new FormatException("empty chunk counts");
        var counter = new ChunkCounter(dto.Classes)
        {
            Count = dto.Count, Failed = dto.Failed, Top1Correct = dto.Top1, Top5Correct = dto.Top5, ConfidenceMicros = dto.ConfidenceMicros,
        };
        foreach (var e in dto.PerClass)
            counter._perClass[e[0]] = [e[1], e[2], e[3]];
        foreach (var e in dto.Confused)
            counter._confused[(e[0], e[1])] = e[2];
        return counter;
    }

    /// <summary>Run totals: the sum of the chunks' counts.</summary>
    public static RunTotals Merge(IEnumerable<string> chunkJsons)
    {
        ChunkCounter? total = null;
        foreach (var json in chunkJsons)
        {
            var chunk = FromJson(json);
            if (total is null)
                total = chunk;
            else
                total.Merge(chunk);
        }
        total ??= new ChunkCounter(0);
        return new RunTotals(total.Count, total.Failed, total.Top1Correct, total.Top5Correct, total.Top1, total.Top5, total.MeanConfidence,
            total._perClass.OrderBy(p => p.Key).Select(p => new ClassAccuracy(p.Key, null, null, p.Value[0], p.Value[1], p.Value[2])).ToList(),
            total._confused.OrderByDescending(p => p.Value).ThenBy(p => p.Key).Take(20)
                .Select(p => new ConfusedPair(p.Key.True, null, p.Key.Predicted, null, p.Value)).ToList());
    }

    private int[] Entry(int label)
    {
        if (!_perClass.TryGetValue(label, out var entry))
            _perClass[label] = entry = new int[3];
        return entry;
    }

    private sealed class Dto
    {
        [JsonPropertyName("classes")] public int Classes { get; set; }
        [JsonPropertyName("count")] public int Count { get; set; }
        [JsonPropertyName("failed")] public int Failed { get; set; }
        [JsonPropertyName("top1")] public int Top1 { get; set; }
        [JsonPropertyName("top5")] public int Top5 { get; set; }
        [JsonPropertyName("confidenceMicros")] public long ConfidenceMicros { get; set; }
        [JsonPropertyName("perClass")] public List<int[]> PerClass { get; set; } = [];
        [JsonPropertyName("confused")] public List<int[]> Confused { get; set; } = [];
    }
}

public sealed record RunTotals(int Count, int Failed, int Top1Correct, int Top5Correct, double Top1, double Top5, double MeanConfidence,
    IReadOnlyList<ClassAccuracy> PerClass, IReadOnlyList<ConfusedPair> MostConfused);
