using System.CommandLine;
using ConvNeXt.Batch.Cli.Fetching;
using ConvNeXt.Batch.Cli.Output;
using ConvNeXt.Batch.Scoring.Importers;
using ConvNeXt.Batch.Scoring.Labels;
using ConvNeXt.Batch.Scoring.Onnx;

namespace ConvNeXt.Batch.Cli.Commands;

/// <summary>What <c>model fetch</c> is asked to do.</summary>
internal sealed record FetchRequest
{
    public required PublishedWeights Weights { get; init; }
    public string? BaseUrl { get; init; }
    /// <summary>Overrides the catalog's digest.</summary>
    public string? Sha256 { get; init; }
    public string? CacheDirectory { get; init; }
    /// <summary><c>null</c>: download and verify only.</summary>
    public ModelBuildRequest? Build { get; init; }
    public bool ShowProgress { get; init; }
}

/// <summary>What <c>model fetch</c> did: where the weights are, their digest, whether it was pinned, the built model.</summary>
internal sealed record FetchResult(PublishedWeights Weights, Uri Address, DownloadResult Download, string? ExpectedSha256, ModelBuildResult? Model)
{
    public bool Pinned => ExpectedSha256 is { Length: 64 };
}

/// <summary><c>model fetch</c>: download published weights (resumable, sha256-checked) into the weights cache and build the ONNX model.</summary>
internal sealed class FetchCommand(CliConsole console, HttpClient http)
{
    public const string BaseUrlEnvironmentVariable = ModelCommands.BaseUrlEnvironmentVariable;

    public static Command Create(CliConsole console)
    {
        var name = new Argument<string>("NAME") { Description = "Model (tiny, convnext_tiny, convnext_tiny.fb_in1k, inception_next_tiny, inception_next_base_384, …)" };
        var source = new Option<string>("--source") { Description = "timm (Hugging Face safetensors: every ConvNeXt and InceptionNeXt variant) or mindcv (.ckpt: ConvNeXt tiny, small, base)", DefaultValueFactory = _ => "timm" }
            .AcceptOnlyFromAmong("timm", "mindcv");
        var baseUrl = new Option<string?>("--base-url")
        {
            Description = $"Origin to download from instead of the published one (default: ${BaseUrlEnvironmentVariable})",
            HelpName = "URL",
            DefaultValueFactory = _ => OptionParsing.Environment(BaseUrlEnvironmentVariable),
        };
        baseUrl.Validators.Add(r =>
        {
            if (r.GetValueOrDefault<string?>() is { } url && !(Uri.TryCreate(url, UriKind.Absolute, out var uri) && uri.Scheme is "http" or "https"))
                r.AddError($"--base-url must be an absolute http(s) URL (got '{url}')");
        });
        var sha256 = new Option<string?>("--sha256") { Description = "Expected sha256 (full or at least 8 leading hex digits); overrides the catalog", HelpName = "HEX" };
        sha256.Validators.Add(r =>
        {
            if (r.GetValueOrDefault<string?>() is { } h && (h.Length is < 8 or > 64 || !OptionParsing.IsHex(h)))
                r.AddError("--sha256 must be 8 to 64 hex digits");
        });
        var cacheDir = new Option<string?>("--cache-dir")
        {
            Description = $"Where downloads are kept (default: ${WeightsCache.EnvironmentVariable} or ~/.cache/convnext-batch)",
            HelpName = "DIR",
        };
        var output = new Option<string?>("--output", "-o") { Description = "ONNX file to write (default: <model>.onnx)", HelpName = "FILE.onnx" };
        var labels = ModelCommands.LabelsOption();
        var precision = ModelCommands.Precision();
        var noBuild = new Option<bool>("--no-build") { Description = "Only download and verify the weights" };
        var quiet = new Option<bool>("--quiet", "-q") { Description = "No progress bar" };

        var command = new Command("fetch", "Download published weights (resumable, sha256-checked) and build the ONNX model")
        {
            name, source, baseUrl, sha256, cacheDir, output, labels, precision, noBuild, quiet,
        };
        command.SetAction(async (parse, ct) =>
        {
            var weightsSource = parse.GetValue(source) == "mindcv" ? WeightsSource.MindCv : WeightsSource.Timm;
            var entry = PublishedWeightsCatalog.Find(parse.GetValue(name)!, weightsSource)
                ?? throw new UsageException($"no published {parse.GetValue(source)} weights for '{parse.GetValue(name)}'; known: " +
                    string.Join(", ", PublishedWeightsCatalog.All.Where(w => w.Source == weightsSource).Select(w => w.Model)));
            var request = new FetchRequest
            {
                Weights = entry,
                BaseUrl = parse.GetValue(baseUrl),
                Sha256 = parse.GetValue(sha256),
                CacheDirectory = parse.GetValue(cacheDir),
                ShowProgress = console.ShowProgress && !parse.GetValue(quiet),
                Build = parse.GetValue(noBuild) ? null : new ModelBuildRequest
                {
                    Architecture = entry.Model,
                    Format = weightsSource == WeightsSource.MindCv ? WeightFormat.MindSpore : WeightFormat.Timm,
                    Labels = parse.GetValue(labels) is { } l ? ClassLabels.Load(l) : null,
                    Precision = ModelCommands.ParsePrecision(parse.GetValue(precision)!),
                    OutputPath = parse.GetValue(output) ?? $"{entry.Model}.onnx",
                },
            };
            using var http = new HttpClient { Timeout = Timeout.InfiniteTimeSpan };
            http.DefaultRequestHeaders.UserAgent.ParseAdd("convnext-batch/1.0");
            var result = await new FetchCommand(console, http).RunAsync(request, ct);
            if (result.Model is { } model)
                ModelCommands.WriteBuildResult(console, model, json: false);
            else
                console.Out.WriteLine(result.Download.Path);
            return CommandTree.Success;
        });
        return command;
    }

    public async Task<FetchResult> RunAsync(FetchRequest request, CancellationToken ct)
    {
        var entry = request.Weights;
        var destination = WeightsCache.PathOf(entry, request.CacheDirectory);
        var address = entry.Address(request.BaseUrl);
        var expected = request.Sha256 ?? entry.Sha256;

        DownloadResult download;
        using (var progress = new ProgressLine(console.Error, request.ShowProgress, "MB"))
        {
            console.Info($"fetching {address} -> {destination}");
            try
            {
                download = await new WeightsDownloader(http).DownloadAsync(address, destination, expected,
                    new Progress<(long Done, long? Total)>(p =>
                    {
                        progress.SetTotal(p.Total / 1_000_000);
                        progress.Report(p.Done / 1_000_000);
                    }), ct);
            }
            catch (Exception e) when (e is WeightsDownloadException or WeightsIntegrityException)
            {
                throw new CommandFailedException(e.Message, e);
            }
        }
        console.Info(download.AlreadyPresent
            ? $"already downloaded: {destination} (sha256 {download.Sha256})"
            : download.ResumedFrom > 0
                ? $"resumed at byte {download.ResumedFrom}: {destination} (sha256 {download.Sha256})"
                : $"downloaded {download.Length} bytes: {destination} (sha256 {download.Sha256})");
        if (expected is null)
            console.Warn($"UNPINNED: no published sha256 for {entry.FileName} could be recorded in the catalog; check the digest above against the publisher's and pin it with --sha256 {download.Sha256}");
        else if (expected.Length < 64)
            console.Warn($"only the first {expected.Length} hex digits of the sha256 are pinned for {entry.FileName}; pin the whole digest with --sha256 {download.Sha256}");

        var model = request.Build is { } build ? ModelBuilding.Build(build with { WeightsPath = destination }, console) : null;
        return new FetchResult(entry, address, download, expected, model);
    }
}
