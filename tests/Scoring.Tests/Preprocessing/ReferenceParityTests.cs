using System.Text.Json;
using ConvNeXt.Batch.Scoring.Preprocessing;
using Xunit.Abstractions;

namespace ConvNeXt.Batch.Scoring.Tests.Preprocessing;

/// <summary>
/// Our crops against the uint8 crops torchvision + Pillow make (<c>../shared/reference/pil-crops</c>):
/// Resize(shorter side, interpolation) + CenterCrop(224) for 39 sample images, among them the
/// upscaled ones (shorter side below the resize target) and the largest.
/// </summary>
public class ReferenceParityTests(ITestOutputHelper output)
{
    private const int Crop = 224;

    public static TheoryData<string> Settings => ["bilinear-256-224", "bicubic-256-224", "bicubic-235-224", "bilinear-236-224"];

    [Theory]
    [MemberData(nameof(Settings))]
    public void Crops_match_torchvision_on_pil_image_by_image(string setting)
    {
        Repository.RequireShared();
        var (names, reference) = Load(setting);
        var parts = setting.Split('-');
        var settings = new PreprocessingSettings
        {
            ResizeShorter = int.Parse(parts[1]), CropHeight = Crop, CropWidth = Crop,
            Interpolation = parts[0] == "bicubic" ? Interpolation.Bicubic : Interpolation.Bilinear,
            PixelScale = 255f, Mean = [0f, 0f, 0f], Std = [1f, 1f, 1f],
        };
        var exact = Compare(new ImagePreprocessor(settings) { ShrinkOnLoad = false }, names, reference);
        var fast = Compare(new ImagePreprocessor(settings), names, reference); // the default

        output.WriteLine($"{setting}: full decode: mean |diff| overall {exact.Average(r => r.Mean):F3} LSB, worst image {exact.Max(r => r.Mean):F3} "
            + $"({exact.MaxBy(r => r.Mean)!.Name}); with JPEG shrink-on-load (default): overall {fast.Average(r => r.Mean):F3}, worst {fast.Max(r => r.Mean):F3}");
        foreach (var (e, f) in exact.Zip(fast).Where(p => p.First.Upscaled || p.First.Mean != p.Second.Mean || p.First.Mean > 0.5))
            output.WriteLine($"  {e.Name,-36} {e.Size,-10} exact {e.Mean:F3} (max {e.Max,3})  shrink-on-load {f.Mean:F3} (max {f.Max,3}){(e.Upscaled ? "  upscaled" : "")}");

        Assert.Contains(exact, r => r.Upscaled); // the set really covers the enlarging path
        Assert.Contains(exact.Zip(fast), p => p.First.Mean != p.Second.Mean); // and JPEG shrink-on-load
        foreach (var rows in new[] { exact, fast })
        {
            Assert.All(rows, r => Assert.True(r.Mean <= 1.0, $"{r.Name}: mean |diff| {r.Mean:F3} LSB"));
            Assert.InRange(rows.Average(r => r.Mean), 0, 0.5);
        }
    }

    private sealed record Row(string Name, string Size, bool Upscaled, double Mean, int Max);

    private static List<Row> Compare(ImagePreprocessor preprocessor, string[] names, byte[] reference)
    {
        var rows = new List<Row>();
        var tensor = new float[preprocessor.TensorLength];
        const int plane = Crop * Crop;
        for (var i = 0; i < names.Length; i++)
        {
            var path = Path.Combine(Repository.ImagenetSamples, names[i]);
            preprocessor.Preprocess(File.ReadAllBytes(path), tensor);
            using var header = NetVips.Image.NewFromFile(path);
            var expected = reference.AsSpan(i * 3 * plane, 3 * plane); // HWC RGB
            double sum = 0;
            var max = 0;
            for (var p = 0; p < plane; p++)
                for (var c = 0; c < 3; c++)
                {
                    var d = Math.Abs(tensor[c * plane + p] - expected[p * 3 + c]);
                    sum += d;
                    max = Math.Max(max, (int)d);
                }
            rows.Add(new Row(names[i], $"{header.Width}×{header.Height}",
                Math.Min(header.Width, header.Height) < preprocessor.Settings.ResizeShorter, sum / (3 * plane), max));
        }
        return rows;
    }

    private static (string[] Names, byte[] Crops) Load(string setting)
    {
        var folder = Repository.Reference("pil-crops");
        using var index = JsonDocument.Parse(File.ReadAllText(Path.Combine(folder, "index.json")));
        var names = index.RootElement.GetProperty("images").EnumerateArray().Select(e => e.GetString()!).ToArray();
        var npy = File.ReadAllBytes(Path.Combine(folder, setting + ".npy"));
        // .npy v1: magic (6) + version (2) + little-endian header length (2) + header + raw data.
        Assert.Equal("NUMPY", System.Text.Encoding.ASCII.GetString(npy, 1, 5));
        var headerLength = BitConverter.ToUInt16(npy, 8);
        var header = System.Text.Encoding.ASCII.GetString(npy, 10, headerLength);
        Assert.Contains("'|u1'", header);
        Assert.Contains($"({names.Length}, {Crop}, {Crop}, 3)", header);
        var data = npy[(10 + headerLength)..];
        Assert.Equal(names.Length * Crop * Crop * 3, data.Length);
        return (names, data);
    }
}
