#:project ../../tests/TestSupport/ConvNeXt.Batch.TestSupport.csproj
#:project ../../Service/ConvNeXt.Batch.Service.csproj
#:property TreatWarningsAsErrors=true
// Peak memory of `score blob://… --table` as the container grows: generates N distinct 32×32 PNGs
// per size into a fresh Azurite, builds a random-weights atto model for 32-pixel inputs, runs the
// built CLI as a child process per size and samples its peak resident set (VmHWM). Prints one table.
// Build first (dotnet build ConvNeXt.Batch.sln -c Release), then:
//   dotnet run scripts/score-memory-bench/ScoreMemoryBench.cs -- [SIZES, default 2000,20000]
using System.Diagnostics;
using Azure.Storage.Blobs;
using ConvNeXt.Batch.TestSupport;
using NetVips;

var sizes = (args.Length > 0 ? args[0] : "2000,20000").Split(',').Select(int.Parse).ToArray();
var cli = Path.Combine(Repository.Root, "Cli", "bin", "Release", "net10.0", "convnext-batch.dll");
if (!File.Exists(cli))
    throw new InvalidOperationException($"{cli} not found: build the solution in Release first");
var work = Directory.CreateTempSubdirectory("score-memory-bench-").FullName;
var model = Path.Combine(work, "atto32.onnx");
await RunCliAsync(["model", "build", "--arch", "atto", "--image-size", "32", "--output", model]);

await using var azurite = await Azurite.StartAsync();
var blobs = new BlobServiceClient(azurite.ConnectionString);
var rows = new List<string>();
long baseline = 0;
foreach (var n in sizes)
{
    var container = blobs.GetBlobContainerClient($"bench{n}");
    await container.CreateIfNotExistsAsync();
    var upload = Stopwatch.StartNew();
    await Parallel.ForEachAsync(Enumerable.Range(0, n), new ParallelOptions { MaxDegreeOfParallelism = 16 }, async (i, ct) =>
        await container.GetBlobClient($"img/{i:D6}.png").UploadAsync(BinaryData.FromBytes(Png(i)), overwrite: true, ct));
    Console.Error.WriteLine($"uploaded {n} blobs in {upload.Elapsed.TotalSeconds:F1} s");

    var (elapsed, peakKiB, threads, output) = await RunCliAsync(["score", $"blob://bench{n}", "--table", "Predictions", "--model", model, "--quiet",
        "--connection-string", azurite.ConnectionString]);
    Console.Error.WriteLine(output.Trim());
    rows.Add($"| {n:N0} | {elapsed.TotalSeconds:F1} | {n / elapsed.TotalSeconds:F0} | {threads} | {peakKiB / 1024.0:F0} |");
    if (rows.Count == 1)
        baseline = peakKiB;
    rows[^1] += $" {(peakKiB / (double)baseline - 1) * 100:+0.0;-0.0} % |";
}
Console.WriteLine("| blobs | wall s | img/s | most threads | peak RSS MiB | RSS vs first |");
Console.WriteLine("| ---: | ---: | ---: | ---: | ---: | ---: |");
rows.ForEach(Console.WriteLine);
Directory.Delete(work, recursive: true);

async Task<(TimeSpan Elapsed, long PeakKiB, long Threads, string Output)> RunCliAsync(string[] arguments)
{
    var start = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true };
    start.ArgumentList.Add(cli);
    foreach (var a in arguments)
        start.ArgumentList.Add(a);
    var clock = Stopwatch.StartNew();
    using var process = Process.Start(start)!;
    var stdout = process.StandardOutput.ReadToEndAsync();
    var stderr = process.StandardError.ReadToEndAsync();
    long peak = 0, threads = 0;
    while (!process.HasExited)
    {
        peak = Math.Max(peak, Status(process.Id, "VmHWM:"));
        threads = Math.Max(threads, Status(process.Id, "Threads:"));
        await Task.Delay(50);
    }
    await process.WaitForExitAsync();
    if (process.ExitCode != 0)
        throw new InvalidOperationException($"convnext-batch {string.Join(' ', arguments)} exited {process.ExitCode}: {await stderr}");
    return (clock.Elapsed, peak, threads, await stderr + await stdout);
}

// VmHWM is the kernel's own peak resident set (KiB) of the process, so sampling cannot miss a spike
// between polls; Threads shows whether a longer run grew the thread pool (each thread adds its stack).
static long Status(int pid, string field)
{
    try
    {
        var line = File.ReadLines($"/proc/{pid}/status").FirstOrDefault(l => l.StartsWith(field, StringComparison.Ordinal));
        return line is null ? 0 : long.Parse(line.Split([' ', '\t'], StringSplitOptions.RemoveEmptyEntries)[1]);
    }
    catch (IOException)
    {
        return 0; // exited between polls
    }
}

// A distinct image per index: a gradient whose colours come from the index.
static byte[] Png(int i)
{
    using var x = Image.Xyz(32, 32);
    using var r = x[0] * (i % 7 + 1);
    using var g = x[1] * (i / 7 % 7 + 1);
    using var b = (x[0] + x[1]) * (i / 49 % 5 + 1) + i % 251;
    using var rgb = r.Bandjoin(g, b);
    using var pixels = rgb.Cast(Enums.BandFormat.Uchar);
    return pixels.PngsaveBuffer();
}
