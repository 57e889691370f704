using System.CommandLine;
using ConvNeXt.Batch.Scoring.Inference;
using ConvNeXt.Batch.Scoring.Labels;
using ConvNeXt.Batch.Scoring.Onnx;
using ConvNeXt.Batch.Scoring.Preprocessing;

namespace ConvNeXt.Batch.Cli.Commands;

/// <summary>
/// The options every model-using command shares: the model file, preprocessing overrides (for
/// models whose ONNX file does not carry its preprocessing, e.g. SqueezeNet), device and labels.
/// </summary>
internal sealed class ModelCommandOptions
{
    public const string ModelEnvironmentVariable = "CONVNEXT_MODEL";

    public Option<string?> Model { get; } = new("--model", "-m")
    {
        Description = $"ONNX model file (default: ${ModelEnvironmentVariable})",
        HelpName = "FILE.onnx",
        DefaultValueFactory = _ => OptionParsing.Environment(ModelEnvironmentVariable),
    };
    public Option<string?> PreprocessingPreset { get; } = new("--preprocessing")
    {
        Description = "Preprocessing preset for models that carry none (caffe: SqueezeNet-style BGR 0-255 mean subtraction); the flags below override single values",
        HelpName = "timm|mindcv|torchvision|caffe",
    };
    public Option<string?> ChannelOrder { get; } = new("--channel-order") { Description = "Override the model's channel order", HelpName = "rgb|bgr" };
    public Option<float?> Scale { get; } = new("--scale") { Description = "Pixel scale: 1 (pixels in [0,1]) or 255", HelpName = "1|255" };
    public Option<float[]?> Mean { get; } = new("--mean") { Description = "Per-channel mean, in the model's channel order", HelpName = "a,b,c", CustomParser = OptionParsing.ParseTriple };
    public Option<float[]?> Std { get; } = new("--std") { Description = "Per-channel std, in the model's channel order", HelpName = "a,b,c", CustomParser = OptionParsing.ParseTriple };
    public Option<int?> Resize { get; } = new("--resize") { Description = "Resize the shorter side to N pixels", HelpName = "N" };
    public Option<int?> Crop { get; } = new("--crop") { Description = "Center-crop N×N pixels", HelpName = "N" };
    public Option<string?> Interpolation { get; } = new("--interpolation") { Description = "Resize filter", HelpName = "bicubic|bilinear|nearest" };
    public Option<string> Device { get; } = new("--device")
    {
        Description = "Execution device: cpu, cuda, cuda:N, gpu, or auto (CUDA when it loads, else cpu with a warning); cuda fails when CUDA cannot load",
        HelpName = "cpu|cuda[:N]",
        DefaultValueFactory = _ => OptionParsing.Environment("Scoring__Device") ?? "cpu",
    };
    public Option<int?> Threads { get; } = new("--threads") { Description = "ONNX Runtime intra-op threads (default: all cores)", HelpName = "N" };
    public Option<string?> Labels { get; } = new("--labels") { Description = "Class label table (LOC_synset_mapping.txt or synset_words.txt) when the model carries none", HelpName = "FILE" };

    /// <param name="acceptsReference">--model may also be a repository model, NAME@VERSION (or NAME for its promoted version).</param>
    public ModelCommandOptions(Command command, bool modelRequired = true, bool acceptsReference = false)
    {
        _acceptsReference = acceptsReference;
        if (acceptsReference)
        {
            Model.Description = $"ONNX model file, or a repository model NAME@VERSION (NAME: its promoted version) (default: ${ModelEnvironmentVariable})";
            Model.HelpName = "FILE.onnx|NAME@VERSION";
        }
        PreprocessingPreset.AcceptOnlyFromAmong("timm", "mindcv", "torchvision", "caffe");
        ChannelOrder.AcceptOnlyFromAmong("rgb", "bgr");
        Interpolation.AcceptOnlyFromAmong("bicubic", "bilinear", "nearest");
        Scale.Validators.Add(r =>
        {
            if (r.GetValueOrDefault<float?>() is { } s && s is not (1f or 255f))
                r.AddError($"--scale must be 1 or 255 (got {s})");
        });
        Std.Validators.Add(r =>
        {
            if (r.GetValueOrDefault<float[]?>() is { } std && std.Any(v => v <= 0))
                r.AddError("--std values must be positive");
        });
        OptionParsing.Positive(Resize);
        OptionParsing.Positive(Crop);
        OptionParsing.Positive(Threads);
        OptionParsing.Device(Device);
        Model.Validators.Add(r =>
        {
            if (r.GetValueOrDefault<string?>() is { } path && !File.Exists(path) && !(acceptsReference && IsReference(path)))
                r.AddError($"{Model.Name}: file not found: {path}");
        });
        OptionParsing.ExistingFile(Labels);
        foreach (var option in new Option[] { Model, PreprocessingPreset, ChannelOrder, Scale, Mean, Std, Resize, Crop, Interpolation, Device, Threads, Labels })
            command.Options.Add(option);
        command.Validators.Add(r =>
        {
            // The default (from the environment) is not applied yet when command validators run.
            if (modelRequired && r.GetValue(Model) is null && OptionParsing.Environment(ModelEnvironmentVariable) is null)
                r.AddError($"--model is required (or set {ModelEnvironmentVariable})");
            if (r.GetValue(Crop) is { } crop && r.GetValue(Resize) is { } resize && crop > resize)
                r.AddError($"--crop {crop} is larger than --resize {resize}");
        });
    }

    public string ModelPath(ParseResult parse) => ModelPathOverride ?? parse.GetValue(Model)!;

    private readonly bool _acceptsReference;

    /// <summary>The repository model --model names, or null for a file.</summary>
    public Service.Models.ModelReference? Reference(ParseResult parse) =>
        _acceptsReference && ModelPathOverride is null && parse.GetValue(Model) is { } value && IsReference(value)
            ? Service.Models.ModelReference.Parse(value) : null;

    /// <summary>Not a file, and NAME@VERSION (or a bare NAME that does not look like a file name).</summary>
    internal static bool IsReference(string value) =>
        !File.Exists(value) && Service.Models.ModelReference.TryParse(value, out var reference) &&
        (reference!.IsExact || !value.EndsWith(".onnx", StringComparison.OrdinalIgnoreCase));

    /// <summary>Set by commands that make their own model (demo) when --model is not given.</summary>
    public string? ModelPathOverride { get; set; }

    // An array option that was not given reads as an empty array, not null.
    private float[]? MeanValue(ParseResult parse) => parse.GetValue(Mean) is { Length: > 0 } v ? v : null;
    private float[]? StdValue(ParseResult parse) => parse.GetValue(Std) is { Length: > 0 } v ? v : null;

    public bool HasPreprocessingOverrides(ParseResult parse) =>
        parse.GetValue(PreprocessingPreset) is not null || parse.GetValue(ChannelOrder) is not null || parse.GetValue(Scale) is not null || MeanValue(parse) is not null ||
        StdValue(parse) is not null || parse.GetValue(Resize) is not null || parse.GetValue(Crop) is not null ||
        parse.GetValue(Interpolation) is not null;

    /// <summary>The preset, else the model's own preprocessing (from its metadata, else timm's), with the single-value flags applied.</summary>
    public PreprocessingSettings? Preprocessing(ParseResult parse)
    {
        if (!HasPreprocessingOverrides(parse))
            return null;
        var baseline = Service.Services.ScoringEngine.ParsePreprocessing(parse.GetValue(PreprocessingPreset))
            ?? OnnxModelInfo.Read(ModelPath(parse)).Metadata?.Preprocessing ?? PreprocessingSettings.Timm();
        var crop = parse.GetValue(Crop);
        var settings = baseline with
        {
            ChannelOrder = parse.GetValue(ChannelOrder) switch
            {
                "rgb" => Scoring.Preprocessing.ChannelOrder.Rgb,
                "bgr" => Scoring.Preprocessing.ChannelOrder.Bgr,
                _ => baseline.ChannelOrder,
            },
            PixelScale = parse.GetValue(Scale) ?? baseline.PixelScale,
            Mean = MeanValue(parse) ?? baseline.Mean,
            Std = StdValue(parse) ?? baseline.Std,
            ResizeShorter = parse.GetValue(Resize) ?? baseline.ResizeShorter,
            CropHeight = crop ?? baseline.CropHeight,
            CropWidth = crop ?? baseline.CropWidth,
            Interpolation = parse.GetValue(Interpolation) switch
            {
                "bicubic" => Scoring.Preprocessing.Interpolation.Bicubic,
                "bilinear" => Scoring.Preprocessing.Interpolation.Bilinear,
                "nearest" => Scoring.Preprocessing.Interpolation.Nearest,
                _ => baseline.Interpolation,
            },
        };
        if (settings.CropHeight > settings.ResizeShorter)
            throw new UsageException($"crop {settings.CropHeight} is larger than the resize {settings.ResizeShorter}");
        return settings;
    }

    public ClassLabels? LabelTable(ParseResult parse) =>
        parse.GetValue(Labels) is { } path ? ClassLabels.Load(path) : null;

    public InferenceOptions Inference(ParseResult parse) => new()
    {
        Device = parse.GetValue(Device) ?? "cpu",
        IntraOpThreads = parse.GetValue(Threads) ?? Environment.ProcessorCount,
    };

    /// <summary>Loads the model (or <paramref name="modelPath"/>) with the overrides; warns loudly when its weights are untrained.</summary>
    public ImageClassifier Load(ParseResult parse, CliConsole console, ClassLabels? labels = null, bool useLabelsOption = true, string? modelPath = null)
    {
        var options = Inference(parse) with { Warning = console.Warn };
        var classifier = ImageClassifier.Load(modelPath ?? ModelPath(parse), options, Preprocessing(parse), labels ?? (useLabelsOption ? LabelTable(parse) : null));
        if (classifier.Metadata.Trained == false)
            console.Warn($"UNTRAINED WEIGHTS: {classifier.ModelId} was built from random weights; its predictions are meaningless.");
        if (classifier.Labels is null)
            console.Warn("the model carries no class labels and no --labels was given: only class indices are reported.");
        return classifier;
    }
}
