#:project ../../Scoring/ConvNeXt.Batch.Scoring.csproj
#:property TreatWarningsAsErrors=true
// Preprocessing throughput per core: decode + resize + crop + normalize of every file in a folder,
// sequentially, timed by the process's CPU time (robust on a shared, oversubscribed machine) and by
// the wall clock; images whose shorter side is below the preset's resize target (enlarged) and the
// rest (shrunk) are also timed apart, since they take different resampling paths. Prints one table
// row per preset, best of ROUNDS passes. Usage:
//   dotnet run scripts/preprocess-bench/PreprocessBench.cs -- IMAGES_DIR [LIMIT] [ROUNDS]
using System.Diagnostics;
using ConvNeXt.Batch.Scoring.Preprocessing;

var files = Directory.GetFiles(args[0]).Order(StringComparer.Ordinal).Take(args.Length > 1 ? int.Parse(args[1]) : int.MaxValue).ToArray();
var rounds = args.Length > 2 ? int.Parse(args[2]) : 3;
var images = files.Select(f =>
{
    using var header = NetVips.Image.NewFromFile(f);
    return (Bytes: File.ReadAllBytes(f), Shorter: Math.Min(header.Width, header.Height));
}).ToArray();
var presets = new (string Name, PreprocessingSettings Settings)[]
{
    ("caffe bilinear 256", PreprocessingSettings.Caffe()),
    ("timm bicubic 256", PreprocessingSettings.Timm()),
    ("torchvision bilinear 236", PreprocessingSettings.Torchvision()),
};
_ = new ImagePreprocessor(PreprocessingSettings.Timm()); // its type initializer configures libvips
Console.WriteLine($"libvips threads per image: {NetVips.NetVips.Concurrency}");
Console.WriteLine("| preset | images (enlarged) | img per CPU-s | img/s wall | CPU-ms per shrunk image | CPU-ms per enlarged image |");
Console.WriteLine("|---|---|---|---|---|---|");
using var process = Process.GetCurrentProcess();
foreach (var (name, settings) in presets)
{
    var preprocessor = new ImagePreprocessor(settings);
    var tensor = new float[preprocessor.TensorLength];
    var enlarged = images.Where(i => i.Shorter < settings.ResizeShorter).Select(i => i.Bytes).ToArray();
    var shrunk = images.Where(i => i.Shorter >= settings.ResizeShorter).Select(i => i.Bytes).ToArray();
    foreach (var (bytes, _) in images.Take(20))
        preprocessor.Preprocess(bytes, tensor); // warm-up
    double bestShrunk = double.MaxValue, bestEnlarged = double.MaxValue, bestWall = double.MaxValue;
    for (var r = 0; r < rounds; r++)
    {
        var clock = Stopwatch.StartNew();
        bestShrunk = Math.Min(bestShrunk, CpuMilliseconds(shrunk));
        bestEnlarged = Math.Min(bestEnlarged, CpuMilliseconds(enlarged));
        bestWall = Math.Min(bestWall, clock.Elapsed.TotalSeconds);
    }
    var cpuSeconds = (bestShrunk * shrunk.Length + bestEnlarged * enlarged.Length) / 1000;
    Console.WriteLine($"| {name} | {images.Length} ({enlarged.Length}) | {images.Length / cpuSeconds:F1} | {images.Length / bestWall:F1} | {bestShrunk:F2} | {bestEnlarged:F2} |");

    double CpuMilliseconds(byte[][] set)
    {
        if (set.Length == 0)
            return 0;
        process.Refresh();
        var cpu0 = process.TotalProcessorTime;
        foreach (var bytes in set)
            preprocessor.Preprocess(bytes, tensor);
        process.Refresh();
        return (process.TotalProcessorTime - cpu0).TotalMilliseconds / set.Length;
    }
}
