using System.Text.Json;
using Parquet.Serialization;
using ConvNeXt.Batch.Cli.Output;

namespace ConvNeXt.Batch.Cli.Tests;

/// <summary>A folder of real photos plus broken files, made once per class.</summary>
public sealed class ScoreFolderFixture : IDisposable
{
    public string Folder { get; } = CliRunner.TempDirectory();
    public string[] Good { get; }
    public string[] Broken { get; } = ["empty.jpg", "truncated.jpg", "notes.txt", "sub/garbage.png"];

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
        Assert.Contains($"scored {data.Count} images ({data.Broken.Length} errors)", result.Error);
        Assert.Contains("img/s", result.Error);
        var records = File.ReadLines(output).Select(l => JsonDocument.Parse(l).RootElement).Select(e => (
            e.GetProperty("source").GetString()!,
            e.TryGetProperty("top5", out var top) ? top[0].GetProperty("wnid").GetString() : null,
            e.TryGetProperty("error", out var error) ? error.GetString() : null)).ToList();
        AssertOneRecordPerInput(records);
        var first = JsonDocument.Parse(File.ReadLines(output).First(l => l.Contains("top5"))).RootElement.GetProperty("top5")[0];
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
        AssertOneRecordPerInput(rows.Select(r => (r.Source, r.Top5 is { Count: > 0 } t ? t[0].Wnid : null, r.Error)).ToList());
        Assert.All(rows.Where(r => r.Error is null), r => Assert.Equal(5, r.Top5!.Count));
    }
}
