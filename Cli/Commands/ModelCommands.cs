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
    public const string CacheEnvironmentVariable = WeightsCache.EnvironmentVariable;

    public static Command Create(CliConsole console)
    {
        var command = new Command("model", "Build, inspect and fetch ConvNeXt ONNX models; push, list and promote them in the model repository")
        {
            Build(console),
            Inspect(console),
            FetchCommand.Create(console),
            QuantizeCommand.Create(console),
        };
        foreach (var repository in ModelRepositoryCommands.Create(console))
            command.Subcommands.Add(repository);
        return command;
    }

    internal static Option<string> Precision() => new Option<string>("--precision")
    {
        Description = "Weights and activations precision of the ONNX graph",
        DefaultValueFactory = _ => "fp32",
    }.AcceptOnlyFromAmong("fp32", "fp16");

    internal static ModelPrecision ParsePrecision(string value) =>
        value == "fp16" ? ModelPrecision.Fp16 : ModelPrecision.Fp32;

    internal static Option<string?> LabelsOption()
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
        var arch = new Option<string?>("--arch") { Description = "Variant: atto, femto, pico, nano, tiny, small, base, large, xlarge (ConvNeXt), inception_next_tiny|small|base|base_384 (inferred from --weights when omitted; tiny for random weights)", HelpName = "NAME" };
        var weights = new Option<string?>("--weights") { Description = "Weights file (.safetensors, .ckpt; ConvNeXt or timm InceptionNeXt, told apart by tensor names); omitted: seeded random weights", HelpName = "FILE" };
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
        var mixerLayout = new Option<string?>("--mixer-layout") { Description = "InceptionNeXt only, for measuring: the token mixer as four branches (default) or one zero-padded 11×11 depthwise conv", HelpName = "branches|merged-kernel" }
            .AcceptOnlyFromAmong("branches", "merged-kernel");
        var channelLayout = new Option<string?>("--channel-layout") { Description = "InceptionNeXt only, for measuring: NCHW throughout (default) or a channels-last MLP", HelpName = "first|last" }
            .AcceptOnlyFromAmong("first", "last");

        var command = new Command("build", "Build an ONNX model from published or random weights")
        {
            arch, weights, format, labels, precision, seed, imageSize, output, json, mixerLayout, channelLayout,
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
                InceptionLayout = InceptionLayout(parse.GetValue(mixerLayout), parse.GetValue(channelLayout)),
            }, console);
            WriteBuildResult(console, result, parse.GetValue(json));
            return Task.FromResult(CommandTree.Success);
        });
        return command;
    }

    private static InceptionNeXtOnnxBuilder.GraphLayout? InceptionLayout(string? mixer, string? channels)
    {
        if (mixer is null && channels is null)
            return null;
        var defaults = new InceptionNeXtOnnxBuilder.GraphLayout();
        return new InceptionNeXtOnnxBuilder.GraphLayout(
            mixer switch { "branches" => InceptionMixerLayout.Branches, "merged-kernel" => InceptionMixerLayout.MergedKernel, _ => defaults.Mixer },
            channels switch { "first" => InceptionChannelLayout.ChannelsFirst, "last" => InceptionChannelLayout.ChannelsLast, _ => defaults.Channels });
    }

    internal static WeightFormat ParseFormat(string value) => value switch
    {
        "timm" => WeightFormat.Timm,
        "torchvision" => WeightFormat.Torchvision,
        "hf" => WeightFormat.HuggingFace,
        "mindspore" => WeightFormat.MindSpore,
        _ => WeightFormat.Auto,
    };

    internal static void WriteBuildResult(CliConsole console, ModelBuildResult result, bool json)
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
                console.Out.WriteLine(description.ToJsonString(TabularOutput.Json));
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
            // What the architecture counts (timm's figure); the graph can hold fewer after BatchNorm folding.
            ["parameters"] = metadata.Parameters ?? info.Parameters,
            ["graph_parameters"] = info.Parameters,
            ["macs"] = info.Macs,
            ["gmacs"] = info.Macs is { } macs ? Math.Round(macs / 1e9, 2) : null,
            ["macs_image_size"] = info.MacsImageSize,
            ["file_bytes"] = info.FileBytes,
            // What Model__Sha256 / MODEL_SHA256 pins.
            ["sha256"] = Scoring.FileSha256.Compute(path),
            ["opset"] = info.Opset,
            ["inputs"] = Tensors(info.Inputs),
            ["outputs"] = Tensors(info.Outputs),
            ["preprocessing"] = metadata.Preprocessing is { } p ? JsonSerializer.SerializeToNode(p, ModelMetadata.Json) : null,
            ["trained"] = metadata.Trained,
            ["weights_format"] = metadata.WeightsFormat,
            ["weights_sha256"] = metadata.WeightsSha256,
            ["precision"] = metadata.Precision,
            ["output"] = metadata.Output switch { ModelOutputKind.Logits => "logits", ModelOutputKind.Probabilities => "probabilities", _ => null },
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
}
