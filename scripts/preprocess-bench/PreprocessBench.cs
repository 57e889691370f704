#:project ../../Scoring/ConvNeXt.Batch.Scoring.csproj
#:property TreatWarningsAsErrors=true
// Preprocessing throughput per core: decode + resize + crop + normalize of every file in a folder,
// sequentially, timed by the process's CPU time (robust on a shared, oversubscribed machine) and
// by the wall clock. Prints one table row per preset. Usage:
//   dotnet run scripts/preprocess-bench/PreprocessBench.cs -- IMAGES_DIR [LIMIT] [ROUNDS]
using System.Diagnostics;
using ConvNeXt.Batch.Scoring.Preprocessing;

var files = Directory.GetFiles(args[0]).Order(StringComparer.Ordinal).Take(args.Length > 1 ? int.Parse(args[1]) : int.MaxValue).ToArray();
var rounds = args.Length > 2 ? int.Parse(args[2]) : 3;
var encoded = files.Select(File.ReadAllBytes).ToArray();
var presets = new (string Name, PreprocessingSettings Settings)[]
{
    ("caffe bilinear 256", PreprocessingSettings.Caffe()),
    ("timm bicubic 256", PreprocessingSettings.Timm()),
    ("torchvision bilinear 236", PreprocessingSettings.Torchvision()),
};
Console.WriteLine($"| preset | images | img/s per CPU-second | img/s wall |");
Console.WriteLine("|---|---|---|---|");
using var process = Process.GetCurrentProcess();
foreach (var (name, settings) in presets)
{
    var preprocessor = new ImagePreprocessor(settings);
    var tensor = new float[preprocessor.TensorLength];
    foreach (var bytes in encoded.Take(20))
        preprocessor.Preprocess(bytes, tensor); // warm-up
    double bestCpu = 0, bestWall = 0;
    for (var r = 0; r < rounds; r++)
    {
        process.Refresh();
        var cpu0 = process.TotalProcessorTime;
        var clock = Stopwatch.StartNew();
        foreach (var bytes in encoded)
            preprocessor.Preprocess(bytes, tensor);
        var wall = clock.Elapsed.TotalSeconds;
        process.Refresh();
        var cpu = (process.TotalProcessorTime - cpu0).TotalSeconds;
        bestCpu = Math.Max(bestCpu, encoded.Length / cpu);
        bestWall = Math.Max(bestWall, encoded.Length / wall);
    }
    Console.WriteLine($"| {name} | {encoded.Length} | {bestCpu:F1} | {bestWall:F1} |");
}
