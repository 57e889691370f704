using System.Text.Json;
using Parquet.Serialization;
using ConvNeXt.Batch.Cli.Output;

namespace ConvNeXt.Batch.Cli.Tests;

/// <summary>A folder of real photos plus broken files, made once per class.</summary>
public sealed class ScoreFolderFixture : IDisposable
{
    public string Folder { get; } = CliRunner.TempDirectory();
    public string[] Good { get; }
    public string[] Broken { get; } = ["empty.jpg", "truncated.jpg", "sub/garbage.png"];

    /// <summary>Not images by extension: skipped with a warning, no record.</summary>
    public string[] NotImages { get; } = ["notes.txt"];

    public ScoreFolderFixture()
    {
        Repository.RequireShared();
        Good = [.. PredictTests.WellKnown, "n01440764_tench.JPEG", "n01496331_electric_ray.JPEG"];
        foreach (var name in Good)
            File.Copy(Path.Combine(Repository.ImagenetSamples, name), Path.Combine(Folder, name));
        Directory.CreateDirectory(Path.Combine(Folder, "sub"));
        File.WriteAllBytes(Path.Combine(Folder, "empty.jpg"), []);
        var jpeg = File.ReadAllBytes(Path.Combine(Repository.ImagenetSamples, "n01443537_goldfish.JPEG"));
        File.WriteAllBytes(Path.Combine(Folder, "truncated.jpg"), jpeg[..600]);
        File.WriteAllText(Path.Combine(Folder, "notes.txt"), "not an image");
        File.WriteAllBytes(Path.Combine(Folder, "sub", "garbage.png"), [0x89, 0x50, 0x4E, 0x47, 0, 0, 0, 0, 1, 2, 3]);
    }

    public int Count => Good.Length + Broken.Length;

    public void Dispose()
    {
        try { Directory.Delete(Folder, recursive: true); } catch (IOException) { }
    }
}

public class ScoreTests(ScoreFolderFixture data) : IClassFixture<ScoreFolderFixture>
{
    private void AssertOneRecordPerInput(IReadOnlyList<(string Source, string? Top1Wnid, string? Error)> records)
    {
        Assert.Equal(data.Count, records.Count);
        Assert.Equal(data.Good.Concat(data.Broken).Order(StringComparer.Ordinal), records.Select(r => r.Source).Order(StringComparer.Ordinal));
        foreach (var name in data.Good)
        {
            var r = records.Single(x => x.Source == name);
            Assert.Null(r.Error);
            Assert.NotNull(r.Top1Wnid);
        }
        foreach (var name in PredictTests.WellKnown)
            Assert.Equal(name.Split('_')[0], records.Single(x => x.Source == name).Top1Wnid);
        foreach (var name in data.Broken)
        {
            var r = records.Single(x => x.Source == name);
            Assert.False(string.IsNullOrWhiteSpace(r.Error), name);
            Assert.Null(r.Top1Wnid);
        }
    }

    [Fact]
    public async Task Score_folder_to_jsonl()
    {
        var output = Path.Combine(CliRunner.TempDirectory(), "out.jsonl");
        var result = await CliRunner.RunOkAsync(["score", data.Folder, "--output", output, "--batch-size", "4", .. CliRunner.SqueezeNet]);
        // The closing summary names where the records went.
        Assert.Matches($@"^scored {data.Count} images \({data.Broken.Length} errors\) in [0-9]+\.[0-9] s: [0-9]+\.[0-9] img/s → {System.Text.RegularExpressions.Regex.Escape(output)}$",
            result.ErrorLines[^1]);
        Assert.Contains("warning: skipped 1 file(s) that are not images by extension", result.Error);
        Assert.Contains("notes.txt", result.Error);
        var records = File.ReadLines(output).Select(l => JsonDocument.Parse(l).RootElement).Select(e => (
            e.GetProperty("source").GetString()!,
            e.TryGetProperty("top", out var top) ? top[0].GetProperty("wnid").GetString() : null,
            e.TryGetProperty("error", out var error) ? error.GetString() : null)).ToList();
        AssertOneRecordPerInput(records);
        var first = JsonDocument.Parse(File.ReadLines(output).First(l => l.Contains("\"top\""))).RootElement.GetProperty("top")[0];
        foreach (var key in new[] { "index", "wnid", "name", "probability" })
            Assert.True(first.TryGetProperty(key, out _), key);
    }

    [Fact]
    public async Task Score_folder_to_csv()
    {
        var output = Path.Combine(CliRunner.TempDirectory(), "out.csv");
        await CliRunner.RunOkAsync(["score", data.Folder, "--output", output, "--quiet", .. CliRunner.SqueezeNet]);
        var rows = new List<(string, string?, string?)>();
        using (var reader = CsvHelper.CsvReader.FromFile(output, new CsvHelper.CsvReaderOptions(), FileOptions.None))
        {
            reader.ReadHeader();
            while (reader.Read())
            {
                var wnid = reader.GetString("top1_wnid");
                var error = reader.GetString("error");
                rows.Add((reader.GetString("source"), wnid.Length > 0 ? wnid : null, error.Length > 0 ? error : null));
            }
        }
        AssertOneRecordPerInput(rows);
        Assert.StartsWith("source,error,top1_index,top1_wnid,top1_name,top1_probability", File.ReadLines(output).First());
    }

    [Fact]
    public async Task Score_folder_to_parquet()
    {
        var output = Path.Combine(CliRunner.TempDirectory(), "out.parquet");
        await CliRunner.RunOkAsync(["score", data.Folder, "--output", output, .. CliRunner.SqueezeNet]);
        var rows = (await ParquetSerializer.DeserializeAsync<ParquetPredictionRow>(output)).Data;
        AssertOneRecordPerInput(rows.Select(r => (r.Source, r.Top is { Count: > 0 } t ? t[0].Wnid : null, r.Error)).ToList());
        Assert.All(rows.Where(r => r.Error is null), r => Assert.Equal(5, r.Top!.Count));
        // Every row names the model that scored it.
        Assert.All(rows, r => Assert.Equal(Scoring.FileSha256.Compute(Repository.SqueezeNet), r.ModelSha256));
        Assert.All(rows, r => Assert.False(string.IsNullOrEmpty(r.Model)));
    }

    [Fact]
    public async Task Parquet_columns_have_the_documented_lower_case_names()
    {
        var output = Path.Combine(CliRunner.TempDirectory(), "out.parquet");
        await CliRunner.RunOkAsync(["score", data.Folder, "--output", output, .. CliRunner.SqueezeNet]);
        await using var reader = await Parquet.ParquetReader.CreateAsync(output);
        Assert.Equal(["source", "error", "top", "model", "model_sha256"], reader.Schema.Fields.Select(f => f.Name));
        var top = Assert.IsType<Parquet.Schema.ListField>(reader.Schema.Fields[2]);
        var item = Assert.IsType<Parquet.Schema.StructField>(top.Item);
        Assert.Equal(["index", "wnid", "name", "probability"], item.Fields.Select(f => f.Name));
    }

    [Fact]
    public async Task Jsonl_csv_and_parquet_list_the_same_rows_in_the_same_input_order()
    {
        var dir = CliRunner.TempDirectory();
        var jsonl = Path.Combine(dir, "out.jsonl");
        var csv = Path.Combine(dir, "out.csv");
        var parquet = Path.Combine(dir, "out.parquet");
        // Different batch sizes and decode parallelism: images finish in different orders, the files must not.
        await CliRunner.RunOkAsync(["score", data.Folder, "--output", jsonl, "--batch-size", "3", "--decode-workers", "4", .. CliRunner.SqueezeNet]);
        await CliRunner.RunOkAsync(["score", data.Folder, "--output", csv, "--batch-size", "5", "--decode-workers", "2", .. CliRunner.SqueezeNet]);
        // One image at a time: each finishes before the next ones are read, the case that once reused sequence numbers.
        await CliRunner.RunOkAsync(["score", data.Folder, "--output", parquet, "--batch-size", "1", "--decode-workers", "1", "--max-wait-ms", "0", .. CliRunner.SqueezeNet]);
        var fromJson = File.ReadLines(jsonl).Select(l => JsonDocument.Parse(l).RootElement.GetProperty("source").GetString()!).ToList();
        var fromCsv = File.ReadLines(csv).Skip(1).Select(l => l.Split(',')[0]).ToList();
        var fromParquet = (await ParquetSerializer.DeserializeAsync<ParquetPredictionRow>(parquet)).Data.Select(r => r.Source).ToList();
        // The folder's ordinal path order (notes.txt is skipped).
        string[] expected = ["empty.jpg", .. data.Good.Order(StringComparer.Ordinal), "sub/garbage.png", "truncated.jpg"];
        Assert.Equal(expected.Order(StringComparer.Ordinal), expected);
        Assert.Equal(expected, fromJson);
        Assert.Equal(expected, fromCsv);
        Assert.Equal(expected, fromParquet);
    }

    [Fact]
    public async Task Probabilities_have_six_decimals_in_every_format()
    {
        var dir = CliRunner.TempDirectory();
        var jsonl = Path.Combine(dir, "out.jsonl");
        var csv = Path.Combine(dir, "out.csv");
        await CliRunner.RunOkAsync(["score", data.Folder, "--output", jsonl, .. CliRunner.SqueezeNet]);
        await CliRunner.RunOkAsync(["score", data.Folder, "--output", csv, .. CliRunner.SqueezeNet]);
        var fromJson = System.Text.RegularExpressions.Regex.Matches(File.ReadAllText(jsonl), "\"probability\":([^,}]+)").Select(m => m.Groups[1].Value).ToList();
        Assert.Equal(data.Good.Length * 5, fromJson.Count);
        Assert.All(fromJson, p => Assert.Matches("^[01]\\.[0-9]{6}$", p));
        using var reader = CsvHelper.CsvReader.FromFile(csv, new CsvHelper.CsvReaderOptions(), FileOptions.None);
        reader.ReadHeader();
        var fromCsv = new List<string>();
        while (reader.Read())
            for (var k = 1; k <= 5; k++)
                if (reader.GetString($"top{k}_probability") is { Length: > 0 } p)
                    fromCsv.Add(p);
        Assert.Equal(fromJson, fromCsv);
    }

    [Fact]
    public async Task An_empty_folder_scores_nothing_with_a_warning()
    {
        var result = await CliRunner.RunOkAsync(["score", CliRunner.TempDirectory(), .. CliRunner.SqueezeNet]);
        Assert.Contains("warning: no images found in", result.Error);
        Assert.Matches(@"^scored 0 images \(0 errors\) in [0-9]+\.[0-9] s: 0\.0 img/s → standard output$", result.ErrorLines[^1]);
        Assert.Equal("", result.Out);
    }

    [Fact]
    public async Task Output_paths_that_cannot_be_written_are_one_clear_line_and_nothing_is_created()
    {
        var dir = CliRunner.TempDirectory();
        var file = Path.Combine(dir, "a.csv");
        await File.WriteAllTextAsync(file, "x");

        // A path below a file: a usage error before anything runs.
        var underFile = await CliRunner.RunAsync(["score", data.Folder, "-o", Path.Combine(file, "out.csv"), .. CliRunner.SqueezeNet]);
        Assert.Equal(2, underFile.ExitCode);
        Assert.Equal($"error: cannot write {Path.Combine(file, "out.csv")}: {file} is a file, not a folder (see 'convnext-batch score --help')",
            Assert.Single(underFile.ErrorLines));
        Assert.Equal("x", await File.ReadAllTextAsync(file));

        // A folder that does not exist is not created (a typo, run as root, would plant folders anywhere).
        var missing = Path.Combine(dir, "nonexistent", "deeper");
        var nested = await CliRunner.RunAsync(["score", data.Folder, "-o", Path.Combine(missing, "out.csv"), .. CliRunner.SqueezeNet]);
        Assert.Equal(2, nested.ExitCode);
        Assert.Equal($"error: cannot write {Path.Combine(missing, "out.csv")}: folder {missing} does not exist (create it first) (see 'convnext-batch score --help')",
            Assert.Single(nested.ErrorLines));
        Assert.False(Directory.Exists(Path.Combine(dir, "nonexistent")));
        Assert.Equal("", nested.Out);

        // The same check for validate --per-class and results report -o, before any work.
        var perClass = await CliRunner.RunAsync(["validate", Repository.ImagenetVal100, "--per-class", Path.Combine(missing, "pc.csv"), .. CliRunner.SqueezeNet]);
        Assert.Equal(2, perClass.ExitCode);
        Assert.Contains($"folder {missing} does not exist", Assert.Single(perClass.ErrorLines));
        var report = await CliRunner.RunAsync(["results", "report", "some-run", "-o", Path.Combine(missing, "run.html")]);
        Assert.Equal(2, report.ExitCode);
        Assert.Contains($"folder {missing} does not exist", Assert.Single(report.ErrorLines));

        // A folder where the file should go.
        var csvFolder = Directory.CreateDirectory(Path.Combine(dir, "d.csv")).FullName;
        var folder = await CliRunner.RunAsync(["score", data.Folder, "-o", csvFolder, .. CliRunner.SqueezeNet]);
        Assert.Equal(2, folder.ExitCode);
        Assert.Contains($"cannot write {csvFolder}: it is a folder; give a file name", Assert.Single(folder.ErrorLines));

        // The OS refuses (a virtual file system): the command fails (exit 1), saying so instead of "file not found".
        var proc = await CliRunner.RunAsync(["score", data.Folder, "-o", "/proc/out.parquet", .. CliRunner.SqueezeNet]);
        Assert.Equal(1, proc.ExitCode);
        Assert.Equal("error: cannot write /proc/out.parquet: /proc does not accept new files (read-only or a virtual file system)",
            Assert.Single(proc.ErrorLines));
    }
}
