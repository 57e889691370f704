using System.Text.Json;
using System.Text.Json.Serialization;
using ConvNeXt.Batch.Scoring.Inference;
using ConvNeXt.Batch.Scoring.Pipeline;

namespace ConvNeXt.Batch.Scoring.Evaluation;

public sealed record ClassAccuracy(int Index, long Images, long Top1Correct, long Top5Correct)
{
    public double Top1 => Images == 0 ? 0 : (double)Top1Correct / Images;
    public double Top5 => Images == 0 ? 0 : (double)Top5Correct / Images;
}

/// <summary>True class <see cref="Actual"/> predicted (top-1) as <see cref="Predicted"/>, <see cref="Count"/> times.</summary>
public sealed record ConfusedPair(int Actual, int Predicted, long Count);

/// <summary>
/// Accuracy tallies of a validation run or of one chunk of it. Only integers are kept (confidence as
/// millionths, time as microseconds), so merging chunk results is exact, associative and
/// commutative: a run's totals do not depend on which chunk finished first. Not thread-safe; give
/// each worker its own and merge.
/// </summary>
public sealed class AccuracyCounts
{
    /// <summary>Top-1 probabilities are summed in millionths.</summary>
    public const long ConfidenceScale = 1_000_000;

    private readonly SortedDictionary<int, long[]> _perClass = []; // [images, top1, top5]
    private readonly SortedDictionary<(int Actual, int Predicted), long> _confusions = [];
    private readonly long[][] _calibration = NewCalibration(); // per bin: [images, top1 correct, confidence micros]

    /// <summary>Labelled images with a prediction.</summary>
    public long Images { get; private set; }

    /// <summary>Inputs that ended in an error (not counted in <see cref="Images"/>).</summary>
    public long Errors { get; private set; }

    public long Top1Correct { get; private set; }

    public long Top5Correct { get; private set; }

    /// <summary>Sum of top-1 probabilities, in millionths.</summary>
    public long ConfidenceMicros { get; private set; }

    /// <summary>Scoring time (wall clock of each chunk, summed over chunks).</summary>
    public long ElapsedMicroseconds { get; private set; }

    /// <summary>Fraction of images whose top-1 class is right (0..1).</summary>
    public double Top1 => Images == 0 ? 0 : (double)Top1Correct / Images;

    /// <summary>Fraction of images whose class is among the top 5 (0..1).</summary>
    public double Top5 => Images == 0 ? 0 : (double)Top5Correct / Images;

    /// <summary>Mean top-1 probability (0..1).</summary>
    public double MeanConfidence => Images == 0 ? 0 : (double)ConfidenceMicros / ConfidenceScale / Images;

    /// <summary>(images + errors) per second of <see cref="ElapsedMicroseconds"/>; per worker when chunks ran in parallel.</summary>
    public double ImagesPerSecond => ElapsedMicroseconds == 0 ? 0 : (Images + Errors) * 1e6 / ElapsedMicroseconds;

    /// <summary>Counts one scored image; <paramref name="top"/> is best first.</summary>
    public void Add(int label, IReadOnlyList<ClassScore> top)
    {
        ArgumentNullException.ThrowIfNull(top);
        if (top.Count == 0)
            throw new ArgumentException("a prediction needs at least one class", nameof(top));
        var top1 = top[0].Index == label;
        var top5 = false;
        for (var i = 0; i < Math.Min(5, top.Count); i++)
            top5 |= top[i].Index == label;
        Images++;
        if (top1) Top1Correct++;
        if (top5) Top5Correct++;
        var confidence = (long)Math.Round(top[0].Probability * (double)ConfidenceScale);
        ConfidenceMicros += confidence;
        var bin = _calibration[Calibration.BinOf(confidence)];
        bin[0]++;
        if (top1) bin[1]++;
        bin[2] += confidence;
        var cls = ClassCounts(label);
        cls[0]++;
        if (top1) cls[1]++;
        if (top5) cls[2]++;
        if (!top1)
            _confusions[(label, top[0].Index)] = _confusions.GetValueOrDefault((label, top[0].Index)) + 1;
    }

    public void AddError() => Errors++;

    /// <summary>Counts a pipeline result: an error, or a prediction for <see cref="ScoredImage.Label"/>.</summary>
    public void Add(ScoredImage result)
    {
        ArgumentNullException.ThrowIfNull(result);
        if (result.Error is not null || result.Top is null)
            AddError();
        else if (result.Label is { } label)
            Add(label, result.Top);
        else
            throw new ArgumentException($"result '{result.Id}' has no label", nameof(result));
    }

    public void AddElapsed(TimeSpan elapsed) => ElapsedMicroseconds += (long)Math.Round(elapsed.TotalMicroseconds);

    /// <summary>Adds <paramref name="other"/>'s counts into this one.</summary>
    public void MergeFrom(AccuracyCounts other)
    {
        ArgumentNullException.ThrowIfNull(other);
        Images += other.Images;
        Errors += other.Errors;
        Top1Correct += other.Top1Correct;
        Top5Correct += other.Top5Correct;
        ConfidenceMicros += other.ConfidenceMicros;
        ElapsedMicroseconds += other.ElapsedMicroseconds;
        foreach (var (label, counts) in other._perClass)
        {
            var mine = ClassCounts(label);
            for (var i = 0; i < 3; i++)
                mine[i] += counts[i];
        }
        foreach (var (pair, count) in other._confusions)
            _confusions[pair] = _confusions.GetValueOrDefault(pair) + count;
        for (var b = 0; b < Calibration.BinCount; b++)
            for (var i = 0; i < 3; i++)
                _calibration[b][i] += other._calibration[b][i];
    }

    /// <summary>The sum of any number of partial results, in any order.</summary>
    public static AccuracyCounts Sum(IEnumerable<AccuracyCounts> parts)
    {
        var total = new AccuracyCounts();
        foreach (var part in parts)
            total.MergeFrom(part);
        return total;
    }

    /// <summary>Classes that occurred, by index.</summary>
    public IReadOnlyList<ClassAccuracy> PerClass() =>
        _perClass.Select(kv => new ClassAccuracy(kv.Key, kv.Value[0], kv.Value[1], kv.Value[2])).ToList();

    /// <summary>The most frequent top-1 mistakes, most frequent first (ties by class indices).</summary>
    public IReadOnlyList<ConfusedPair> MostConfused(int count = 10) =>
        _confusions.OrderByDescending(kv => kv.Value).ThenBy(kv => kv.Key.Actual).ThenBy(kv => kv.Key.Predicted)
            .Take(count).Select(kv => new ConfusedPair(kv.Key.Actual, kv.Key.Predicted, kv.Value)).ToList();

    /// <summary>
    /// Top-1 confidence in <see cref="Calibration.BinCount"/> equal-width bins (every bin, empty ones included).
    /// Counts written before bins existed have none; then the bins hold fewer images than <see cref="Images"/>.
    /// </summary>
    public IReadOnlyList<CalibrationBin> CalibrationBins() =>
        Enumerable.Range(0, Calibration.BinCount).Select(b => new CalibrationBin(b, (double)b / Calibration.BinCount, (double)(b + 1) / Calibration.BinCount,
            _calibration[b][0], _calibration[b][1], _calibration[b][2])).ToList();

    /// <summary>Expected calibration error of the top-1 confidence (0..1); null when the bins do not cover every image (older counts).</summary>
    public double? ExpectedCalibrationError =>
        _calibration.Sum(b => b[0]) == Images ? Calibration.ExpectedCalibrationError(CalibrationBins()) : null;

    /// <summary>Canonical JSON (sorted, integers only): equal counts give equal text.</summary>
    public string ToJson() => JsonSerializer.Serialize(new Dto
    {
        Images = Images, Errors = Errors, Top1Correct = Top1Correct, Top5Correct = Top5Correct,
        ConfidenceMicros = ConfidenceMicros, ElapsedMicroseconds = ElapsedMicroseconds,
        PerClass = _perClass.Select(kv => new[] { kv.Key, kv.Value[0], kv.Value[1], kv.Value[2] }).ToArray(),
        Confusions = _confusions.Select(kv => new[] { kv.Key.Actual, kv.Key.Predicted, kv.Value }).ToArray(),
        Calibration = Enumerable.Range(0, Calibration.BinCount).Where(b => _calibration[b][0] > 0)
            .Select(b => new[] { b, _calibration[b][0], _calibration[b][1], _calibration[b][2] }).ToArray(),
    }, JsonOptions);

    /// <exception cref="FormatException">The text is not an AccuracyCounts document.</exception>
    public static AccuracyCounts FromJson(string json)
    {
        Dto dto;
        try
        {
            dto = JsonSerializer.Deserialize<Dto>(json, JsonOptions) ?? throw new FormatException("accuracy counts: null document");
        }
        catch (JsonException e)
        {
            throw new FormatException($"accuracy counts: {e.Message}", e);
        }
        var counts = new AccuracyCounts
        {
            Images = dto.Images, Errors = dto.Errors, Top1Correct = dto.Top1Correct, Top5Correct = dto.Top5Correct,
            ConfidenceMicros = dto.ConfidenceMicros, ElapsedMicroseconds = dto.ElapsedMicroseconds,
        };
        foreach (var row in dto.PerClass ?? [])
        {
            if (row.Length != 4)
                throw new FormatException("accuracy counts: per_class rows are [class, images, top1, top5]");
            counts._perClass[checked((int)row[0])] = [row[1], row[2], row[3]];
        }
        foreach (var row in dto.Confusions ?? [])
        {
            if (row.Length != 3)
                throw new FormatException("accuracy counts: confusions rows are [actual, predicted, count]");
            counts._confusions[(checked((int)row[0]), checked((int)row[1]))] = row[2];
        }
        foreach (var row in dto.Calibration ?? [])
        {
            if (row.Length != 4 || row[0] < 0 || row[0] >= Calibration.BinCount)
                throw new FormatException($"accuracy counts: calibration rows are [bin 0..{Calibration.BinCount - 1}, images, correct, confidence_micros]");
            counts._calibration[row[0]] = [row[1], row[2], row[3]];
        }
        return counts;
    }

    public override string ToString() =>
        $"top-1 {Top1:P2}, top-5 {Top5:P2} over {Images:N0} images ({Errors:N0} errors), mean confidence {MeanConfidence:F3}";

    private long[] ClassCounts(int label)
    {
        if (!_perClass.TryGetValue(label, out var counts))
            _perClass[label] = counts = new long[3];
        return counts;
    }

    private static long[][] NewCalibration() => Enumerable.Range(0, Calibration.BinCount).Select(_ => new long[3]).ToArray();

    private static readonly JsonSerializerOptions JsonOptions = new() { PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower };

    private sealed class Dto
    {
        public long Images { get; set; }
        public long Errors { get; set; }
        public long Top1Correct { get; set; }
        public long Top5Correct { get; set; }
        public long ConfidenceMicros { get; set; }
        public long ElapsedMicroseconds { get; set; }
        [JsonPropertyName("per_class")] public long[][]? PerClass { get; set; }
        public long[][]? Confusions { get; set; }
        /// <summary>[bin, images, top1 correct, confidence micros], non-empty bins only.</summary>
        public long[][]? Calibration { get; set; }
    }
}
