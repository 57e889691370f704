using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using ConvNeXt.Batch.Cli.Fetching;
using ConvNeXt.Batch.Cli.Output;
using ConvNeXt.Batch.Scoring.Importers;
using ConvNeXt.Batch.Scoring.Labels;
using ConvNeXt.Batch.Scoring.Models;
using ConvNeXt.Batch.Scoring.Onnx;
using Spectre.Console;

namespace ConvNeXt.Batch.Cli.Commands;

/// <summary><c>model build | inspect | fetch</c>.</summary>
internal static class ModelCommands
{
    public const string BaseUrlEnvironmentVariable = "CONVNEXT_WEIGHTS_BASE_URL";
    public const string CacheEnvironmentVariable = "CONVNEXT_CACHE_DIR";

    public static Command Create(CliConsole console) => new("model", "Build, inspect and fetch ConvNeXt ONNX models")
    {
        Build(console),
        Inspect(console),
        Fetch(console),
    };

    private static Option<string> Precision() => new Option<string>("--precision")
    {
        Description = "Weights and activations precision of the ONNX graph",
        DefaultValueFactory = _ => "fp32",
    }.AcceptOnlyFromAmong("fp32", "fp16");

    private static ModelPrecision ParsePrecision(string value) =>
        value == "fp16" ? ModelPrecision.Fp16 : ModelPrecision.Fp32;

    private static Option<string?> LabelsOption()
    {
        var option = new Option<string?>("--labels")
        {
            Description = "Class label table embedded in the model (LOC_synset_mapping.txt or synset_words.txt)",
            HelpName = "FILE",
        };
        OptionParsing.ExistingFile(option);
        return option;
    }

    private static Command Build(CliConsole console)
    {
        var arch = new Option<string?>("--arch") { Description = "Variant: atto, femto, pico, nano, tiny, small, base, large, xlarge (inferred from --weights when omitted; tiny for random weights)", HelpName = "NAME" };
        var weights = new Option<string?>("--weights") { Description = "Weights file (.safetensors, .ckpt); omitted: seeded random weights", HelpName = "FILE" };
        OptionParsing.ExistingFile(weights);
        var format = new Option<string>("--format") { Description = "Weights naming convention", DefaultValueFactory = _ => "auto" }
            .AcceptOnlyFromAmong("auto", "timm", "torchvision", "hf", "mindspore");
        var labels = LabelsOption();
        var precision = Precision();
        var seed = new Option<int>("--random-seed") { Description = "Seed for random weights", DefaultValueFactory = _ => 0, HelpName = "N" };
        var output = new Option<string>("--output", "-o") { Description = "ONNX file to write", Required = true, HelpName = "FILE.onnx" };
        var imageSize = new Option<int?>("--image-size") { Description = "Fix the input to N×N pixels (default: symbolic height/width, preprocessing for 224)", HelpName = "N" };
        imageSize.Validators.Add(r =>
        {
            if (r.GetValueOrDefault<int?>() is { } n && (n < 32 || n % 32 != 0))
                r.AddError($"--image-size must be a positive multiple of 32 (got {n})");
        });
        var json = new Option<bool>("--json") { Description = "Print the result as JSON" };

        var command = new Command("build", "Build an ONNX model from published or random weights")
        {
            arch, weights, format, labels, precision, seed, imageSize, output, json,
        };
        command.SetAction((parse, ct) =>
        {
            var result = ModelBuilding.Build(new ModelBuildRequest
            {
                Architecture = parse.GetValue(arch),
                WeightsPath = parse.GetValue(weights),
                Format = ParseFormat(parse.GetValue(format)!),
                Labels = parse.GetValue(labels) is { } l ? ClassLabels.Load(l) : null,
                Precision = ParsePrecision(parse.GetValue(precision)!),
                RandomSeed = parse.GetValue(seed),
                ImageSize = parse.GetValue(imageSize),
                OutputPath = parse.GetValue(output)!,
            }, console);
            WriteBuildResult(console, result, parse.GetValue(json));
            return Task.FromResult(CommandTree.Success);
        });
        return command;
    }

    internal static WeightFormat ParseFormat(string value) => value switch
    {
        "timm" => WeightFormat.Timm,
        "torchvision" => WeightFormat.Torchvision,
        "hf" => WeightFormat.HuggingFace,
        "mindspore" => WeightFormat.MindSpore,
        _ => WeightFormat.Auto,
    };

    private static void WriteBuildResult(CliConsole console, ModelBuildResult result, bool json)
    {
        if (json)
        {
            console.Out.WriteLine(JsonSerializer.Serialize(new JsonObject
            {
                ["path"] = result.Path,
                ["architecture"] = result.Architecture,
                ["parameters"] = result.Parameters,
                ["trained"] = result.Trained,
                ["weights_format"] = result.WeightsFormat,
                ["bytes"] = result.Bytes,
            }));
            return;
        }
        console.Out.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"wrote {result.Path}: {result.Architecture}, {result.Parameters:N0} parameters, weights {result.WeightsFormat}{(result.Trained ? "" : " (UNTRAINED)")}, {result.Bytes / 1e6:F1} MB"));
    }

    private static Command Inspect(CliConsole console)
    {
        var file = new Argument<string>("FILE.onnx") { Description = "ONNX model file" };
        OptionParsing.ExistingFile(file);
        var json = new Option<bool>("--json") { Description = "Print JSON instead of a table" };
        var command = new Command("inspect", "Show a model's architecture, parameter count, MACs, opset, inputs/outputs and preprocessing") { file, json };
        command.SetAction((parse, ct) =>
        {
            var path = parse.GetValue(file)!;
            var info = OnnxModelInfo.Read(path);
            var description = Describe(path, info);
            if (parse.GetValue(json))
                console.Out.WriteLine(description.ToJsonString(new JsonSerializerOptions { WriteIndented = true }));
            else
                WriteInspectTable(console, description);
            return Task.FromResult(CommandTree.Success);
        });
        return command;
    }

    internal static JsonObject Describe(string path, OnnxModelInfo info)
    {
        var metadata = info.Metadata;
        static JsonArray Tensors(IEnumerable<OnnxTensorInfo> tensors) =>
            [.. tensors.Select(t => (JsonNode)new JsonObject
            {
                ["name"] = t.Name,
                ["type"] = t.ElementType,
                ["shape"] = new JsonArray([.. t.Shape.Select(d => (JsonNode?)(long.TryParse(d, out var n) ? JsonValue.Create(n) : JsonValue.Create(d)))]),
            })];
        return new JsonObject
        {
            ["path"] = path,
            ["architecture"] = metadata.Architecture,
            ["parameters"] = info.Parameters,
            ["macs"] = info.Macs,
            ["macs_image_size"] = info.MacsImageSize,
            ["file_bytes"] = info.FileBytes,
            ["opset"] = info.Opset,
            ["inputs"] = Tensors(info.Inputs),
            ["outputs"] = Tensors(info.Outputs),
            ["preprocessing"] = metadata.Preprocessing is { } p ? JsonSerializer.SerializeToNode(p, ModelMetadata.Json) : null,
            ["trained"] = metadata.Trained,
            ["weights_format"] = metadata.WeightsFormat,
            ["weights_sha256"] = metadata.WeightsSha256,
            ["precision"] = metadata.Precision,
            ["classes"] = metadata.Labels?.Count,
            ["reference_accuracy"] = metadata.ReferenceAccuracy is { } r ? JsonSerializer.SerializeToNode(r, ModelMetadata.Json) : null,
        };
    }

    private static void WriteInspectTable(CliConsole console, JsonObject d)
    {
        var table = new Table().AddColumn("property").AddColumn("value").Border(TableBorder.Rounded);
        foreach (var (key, value) in d)
        {
            var text = value switch
            {
                null => "-",
                JsonValue v when v.TryGetValue<long>(out var n) => n.ToString("N0", CultureInfo.InvariantCulture),
                JsonValue v => v.ToString(),
                _ => value.ToJsonString(),
            };
            table.AddRow(Markup.Escape(key), Markup.Escape(text));
        }
        console.Tables.Write(table);
        if (d["trained"] is JsonValue trained && trained.TryGetValue<bool>(out var t) && !t)
            console.Out.WriteLine("UNTRAINED WEIGHTS: this model was built from random weights.");
    }

    private static Command Fetch(CliConsole console)
    {
        var name = new Argument<string>("NAME") { Description = "Variant (tiny, convnext_tiny, convnext_tiny.fb_in1k, …)" };
        var source = new Option<string>("--source") { Description = "timm (Hugging Face safetensors, every variant) or mindcv (.ckpt: tiny, small, base)", DefaultValueFactory = _ => "timm" }
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
            Description = $"Where downloads are kept (default: ${CacheEnvironmentVariable} or ~/.cache/convnext-batch)",
            HelpName = "DIR",
            DefaultValueFactory = _ => OptionParsing.Environment(CacheEnvironmentVariable),
        };
        var output = new Option<string?>("--output", "-o") { Description = "ONNX file to write (default: <variant>.onnx)", HelpName = "FILE.onnx" };
        var labels = LabelsOption();
        var precision = Precision();
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
                    string.Join(", ", PublishedWeightsCatalog.All.Where(w => w.Source == weightsSource).Select(w => w.Variant)));
            var cache = parse.GetValue(cacheDir) ?? Path.Combine(
                Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".cache", "convnext-batch");
            var destination = Path.Combine(cache, entry.FileName);
            var address = entry.Address(parse.GetValue(baseUrl));
            var expected = parse.GetValue(sha256) ?? entry.Sha256;

            using var http = new HttpClient { Timeout = Timeout.InfiniteTimeSpan };
            http.DefaultRequestHeaders.UserAgent.ParseAdd("convnext-batch/1.0");
            var downloader = new WeightsDownloader(http);
            DownloadResult download;
            using (var progress = new ProgressLine(console.Error, console.ErrorIsTerminal && !parse.GetValue(quiet), "MB"))
            {
                console.Info($"fetching {address} -> {destination}");
                try
                {
                    download = await downloader.DownloadAsync(address, destination, expected,
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
                console.Warn($"no published sha256 for {entry.FileName}; pin it with --sha256 {download.Sha256}");

            if (parse.GetValue(noBuild))
            {
                console.Out.WriteLine(destination);
                return CommandTree.Success;
            }
            var result = ModelBuilding.Build(new ModelBuildRequest
            {
                WeightsPath = destination,
                Format = weightsSource == WeightsSource.MindCv ? WeightFormat.MindSpore : WeightFormat.Timm,
                Labels = parse.GetValue(labels) is { } l ? ClassLabels.Load(l) : null,
                Precision = ParsePrecision(parse.GetValue(precision)!),
                OutputPath = parse.GetValue(output) ?? $"convnext_{entry.Variant}.onnx",
            }, console);
            WriteBuildResult(console, result, json: false);
            return CommandTree.Success;
        });
        return command;
    }
}
