using System.Globalization;
using System.Text;
using System.Text.Json;
using ConvNeXt.Batch.Service.Contracts;
using CsvHelper;
using Parquet;
using Parquet.Serialization;

namespace ConvNeXt.Batch.Cli.Output;

public enum PredictionFileFormat { JsonLines, Csv, Parquet }

/// <summary>
/// Streams <see cref="ScoreRecord"/>s to a file as they arrive, so memory stays bounded
/// whatever the number of inputs. The format follows the file extension.
/// </summary>
public abstract class PredictionWriter : IAsyncDisposable
{
    public const int TopK = 5;

    public abstract ValueTask WriteAsync(ScoreRecord record, CancellationToken cancellationToken = default);

    public abstract ValueTask DisposeAsync();

    public static PredictionFileFormat FormatOf(string path) => Path.GetExtension(path).ToLowerInvariant() switch
    {
        ".jsonl" or ".ndjson" or ".json" => PredictionFileFormat.JsonLines,
        ".csv" => PredictionFileFormat.Csv,
        ".parquet" => PredictionFileFormat.Parquet,
        var other => throw new ArgumentException($"unsupported output extension '{other}': use .jsonl, .csv or .parquet"),
    };

    /// <summary>Creates <paramref name="path"/> (see <see cref="OutputFile.Open"/> for folders and errors).</summary>
    public static PredictionWriter Create(string path)
    {
        var format = FormatOf(path);
        var stream = OutputFile.Open(path);
        return format switch
        {
            PredictionFileFormat.JsonLines => new JsonLinesPredictionWriter(stream),
            PredictionFileFormat.Csv => new CsvPredictionWriter(stream),
            _ => new ParquetPredictionWriter(stream),
        };
    }

    /// <summary>Writes JSON lines to any writer (e.g. standard output).</summary>
    public static PredictionWriter JsonLines(TextWriter writer) => new JsonLinesPredictionWriter(writer);

    internal static readonly JsonSerializerOptions Json = new()
    {
        WriteIndented = false, Converters = { new PredictedClassConverter() },
        Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
    };

    /// <summary>Probabilities always with six decimals (0.376000, not 0.376 beside 0.9946 and 1), in every format that prints them.</summary>
    public static string FormatProbability(double probability) => probability.ToString("F6", CultureInfo.InvariantCulture);
}

/// <summary>A predicted class as the output files write it: <c>{"index","wnid","name","probability"}</c>, probability with six decimals.</summary>
internal sealed class PredictedClassConverter : System.Text.Json.Serialization.JsonConverter<PredictedClass>
{
    public override PredictedClass Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options) =>
        throw new NotSupportedException();

    public override void Write(Utf8JsonWriter writer, PredictedClass value, JsonSerializerOptions options)
    {
        writer.WriteStartObject();
        writer.WriteNumber("index", value.Index);
        if (value.Wnid is not null)
            writer.WriteString("wnid", value.Wnid);
        if (value.Name is not null)
            writer.WriteString("name", value.Name);
        writer.WritePropertyName("probability");
        writer.WriteRawValue(PredictionWriter.FormatProbability(value.Probability));
        writer.WriteEndObject();
    }
}

internal sealed class JsonLinesPredictionWriter : PredictionWriter
{
    private readonly TextWriter _writer;
    private readonly bool _owns;

    public JsonLinesPredictionWriter(Stream stream)
    {
        _writer = new StreamWriter(stream, new UTF8Encoding(false));
        _owns = true;
    }

    public JsonLinesPredictionWriter(TextWriter writer) => _writer = writer;

    public override async ValueTask WriteAsync(ScoreRecord record, CancellationToken cancellationToken = default) =>
        await _writer.WriteLineAsync(JsonSerializer.Serialize(record, Json).AsMemory(), cancellationToken);

    public override async ValueTask DisposeAsync()
    {
        await _writer.FlushAsync();
        if (_owns)
            await _writer.DisposeAsync();
    }
}

/// <summary>Flat columns: <c>source,error,top1_index,top1_wnid,top1_name,top1_probability,…,top5_probability,model,model_sha256</c>.</summary>
internal sealed class CsvPredictionWriter : PredictionWriter
{
    private readonly StreamWriter _text;
    private readonly CsvWriter _csv;

    public CsvPredictionWriter(Stream stream)
    {
        _text = new StreamWriter(stream, new UTF8Encoding(false));
        _csv = CsvWriter.Create(_text, new CsvWriterOptions(), leaveOpen: true);
        _csv.WriteField("source");
        _csv.WriteField("error");
        for (var k = 1; k <= TopK; k++)
        {
            _csv.WriteField($"top{k}_index");
            _csv.WriteField($"top{k}_wnid");
            _csv.WriteField($"top{k}_name");
            _csv.WriteField($"top{k}_probability");
        }
        _csv.WriteField("model");
        _csv.WriteField("model_sha256");
        _csv.EndRecord();
    }

    public override async ValueTask WriteAsync(ScoreRecord record, CancellationToken cancellationToken = default)
    {
        _csv.WriteField(record.Source);
        _csv.WriteField(record.Error ?? "");
        for (var k = 0; k < TopK; k++)
        {
            if (record.Top is { } top && k < top.Count)
            {
                _csv.WriteField(top[k].Index.ToString(CultureInfo.InvariantCulture));
                _csv.WriteField(top[k].Wnid ?? "");
                _csv.WriteField(top[k].Name ?? "");
                _csv.WriteField(FormatProbability(top[k].Probability));
            }
            else
            {
                for (var i = 0; i < 4; i++)
                    _csv.WriteField("");
            }
        }
        _csv.WriteField(record.Model ?? "");
        _csv.WriteField(record.ModelSha256 ?? "");
        await _csv.EndRecordAsync(cancellationToken);
    }

    public override async ValueTask DisposeAsync()
    {
        await _csv.FlushAsync();
        await _csv.DisposeAsync();
        await _text.DisposeAsync();
    }
}

/// <summary>
/// Parquet row: <c>source</c>, <c>error</c>, and <c>top</c> as a list of structs <c>index, wnid, name, probability</c>
/// (lower case, as the JSON lines; pandas column names are case-sensitive); one row group per 1,024 records.
/// </summary>
public sealed class ParquetPredictionRow
{
    [System.Text.Json.Serialization.JsonPropertyName("source")] public string Source { get; set; } = "";
    [System.Text.Json.Serialization.JsonPropertyName("error")] public string? Error { get; set; }
    [System.Text.Json.Serialization.JsonPropertyName("top")] public List<ParquetPredictedClass>? Top { get; set; }
    [System.Text.Json.Serialization.JsonPropertyName("model")] public string? Model { get; set; }
    [System.Text.Json.Serialization.JsonPropertyName("model_sha256")] public string? ModelSha256 { get; set; }
}

public sealed class ParquetPredictedClass
{
    [System.Text.Json.Serialization.JsonPropertyName("index")] public int Index { get; set; }
    [System.Text.Json.Serialization.JsonPropertyName("wnid")] public string? Wnid { get; set; }
    [System.Text.Json.Serialization.JsonPropertyName("name")] public string? Name { get; set; }
    [System.Text.Json.Serialization.JsonPropertyName("probability")] public double Probability { get; set; }
}

internal sealed class ParquetPredictionWriter(Stream stream) : PredictionWriter
{
    private const int RowGroupSize = 1024;
    private readonly List<ParquetPredictionRow> _pending = new(RowGroupSize);
    private bool _started;

    public override async ValueTask WriteAsync(ScoreRecord record, CancellationToken cancellationToken = default)
    {
        _pending.Add(new ParquetPredictionRow
        {
            Source = record.Source,
            Error = record.Error,
            Top = record.Top?.Select(c => new ParquetPredictedClass { Index = c.Index, Wnid = c.Wnid, Name = c.Name, Probability = c.Probability }).ToList(),
            Model = record.Model,
            ModelSha256 = record.ModelSha256,
        });
        if (_pending.Count >= RowGroupSize)
            await FlushAsync(cancellationToken);
    }

    private async Task FlushAsync(CancellationToken cancellationToken)
    {
        if (_pending.Count == 0 && _started)
            return;
        await ParquetSerializer.SerializeAsync(_pending, stream, new ParquetOptions { Append = _started }, cancellationToken: cancellationToken);
        _started = true;
        _pending.Clear();
    }

    public override async ValueTask DisposeAsync()
    {
        await FlushAsync(CancellationToken.None);
        await stream.DisposeAsync();
    }
}
