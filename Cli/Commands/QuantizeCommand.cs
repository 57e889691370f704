using System.CommandLine;
using System.Globalization;
using ConvNeXt.Batch.Scoring.Inference;
using ConvNeXt.Batch.Scoring.Quantization;

namespace ConvNeXt.Batch.Cli.Commands;

/// <summary>
/// <c>model quantize MODEL.onnx --calibrate DIR --output OUT.onnx</c>: static int8 post-training
/// quantization (QDQ) calibrated on real images run through the model's own preprocessing.
/// </summary>
internal static class QuantizeCommand
{
    public const int DefaultImages = 100;

    public static Command Create(CliConsole console)
    {
        var file = new Argument<string?>("MODEL.onnx") { Description = "Float ONNX model to quantize (or --model)", Arity = ArgumentArity.ZeroOrOne };
        OptionParsing.ExistingFile(file!);
        var calibrate = new Option<string>("--calibrate") { Description = "Folder of calibration images (representative of what will be scored)", Required = true, HelpName = "DIR" };
        calibrate.Validators.Add(r =>
        {
            if (r.GetValueOrDefault<string>() is { } dir && !Directory.Exists(dir))
                r.AddError($"--calibrate: folder not found: {dir}");
        });
        var images = new Option<int>("--images") { Description = "Calibrate on the first N usable images of DIR (file name order)", DefaultValueFactory = _ => DefaultImages, HelpName = "N" };
        OptionParsing.Positive(images);
        var method = new Option<string>("--method") { Description = "How activation ranges are chosen from the calibration run", DefaultValueFactory = _ => "minmax" }
            .AcceptOnlyFromAmong("minmax", "percentile", "entropy", "mse");
        var output = new Option<string>("--output", "-o") { Description = "int8 ONNX file to write", Required = true, HelpName = "OUT.onnx" };
        OptionParsing.WritableFile(output);
        var floatOutput = new Option<string?>("--float-output") { Description = "Also write the float32 graph the int8 one is made from (float16 upcast, opset 13): the baseline for bench --compare", HelpName = "FILE.onnx" };
        OptionParsing.WritableFile(floatOutput);
        var floatHead = new Option<bool>("--float-head") { Description = "Leave the classifier head (the last Conv/MatMul/Gemm) in float" };
        var exclude = new Option<string[]>("--exclude") { Description = "Conv/MatMul/Gemm nodes to leave in float (node name, or first output name when unnamed)", HelpName = "NODE,...", AllowMultipleArgumentsPerToken = true };
        var percentile = new Option<double>("--percentile") { Description = "With --method percentile: the percentile of |x| kept", DefaultValueFactory = _ => 99.999, HelpName = "P" };
        percentile.Validators.Add(r =>
        {
            if (r.GetValueOrDefault<double>() is var p && !(p > 50 && p <= 100))
                r.AddError($"--percentile must be above 50 and at most 100 (got {p})");
        });
        var rounding = new Option<string>("--weight-rounding") { Description = "nearest: each weight to its nearest int8 step; gptq: rounding errors compensated through each layer's input statistics on the calibration images (slower to make, closer to float)", DefaultValueFactory = _ => "nearest" }
            .AcceptOnlyFromAmong("nearest", "gptq");
        var equalize = new Option<bool>("--equalize") { Description = "Even out the channels of convolution outputs before calibration (rescaled in the producing and the reading convolutions; the float function is unchanged)" };
        var command = new Command("quantize", "Quantize a float model to int8 (QDQ, per-channel weights), calibrated on real images")
        {
            file, calibrate, images, method, output, floatOutput, floatHead, exclude, percentile, rounding, equalize,
        };
        var model = new ModelCommandOptions(command, modelRequired: false);

        command.SetAction((parse, ct) =>
        {
            var path = parse.GetValue(file) ?? parse.GetValue(model.Model)
                ?? throw new UsageException("give the model to quantize (MODEL.onnx or --model)");
            model.ModelPathOverride = path;
            var requested = parse.GetValue(images);
            var folder = parse.GetValue(calibrate)!;
            var threads = parse.GetValue(model.Threads) ?? Environment.ProcessorCount;

            // The classifier resolves preprocessing and labels exactly as scoring will (overrides, metadata, defaults).
            Scoring.Preprocessing.PreprocessingSettings preprocessing;
            Scoring.Labels.ClassLabels? labels;
            using (var classifier = ImageClassifier.Load(path, new InferenceOptions { IntraOpThreads = threads, Warning = console.Warn },
                model.Preprocessing(parse), model.LabelTable(parse)))
            {
                preprocessing = classifier.Preprocessing;
                labels = classifier.Labels;
            }

            var calibration = CalibrationImages.Load(folder, preprocessing, requested);
            if (calibration.Count == 0)
                throw new UsageException($"--calibrate {folder}: no usable images ({calibration.Rejected.Count} file{(calibration.Rejected.Count == 1 ? "" : "s")} could not be read as images)");
            if (calibration.Count < requested)
                console.Warn($"--calibrate {folder}: {calibration.Count} usable image{(calibration.Count == 1 ? "" : "s")}, fewer than --images {requested}; calibrating on {calibration.Count}");

            var options = new QuantizationOptions
            {
                Method = parse.GetValue(method) switch { "percentile" => CalibrationMethod.Percentile, "entropy" => CalibrationMethod.Entropy, "mse" => CalibrationMethod.Mse, _ => CalibrationMethod.MinMax },
                WeightRounding = parse.GetValue(rounding) == "gptq" ? WeightRounding.Gptq : WeightRounding.Nearest,
                Equalize = parse.GetValue(equalize),
                IntraOpThreads = threads,
                FloatOutputPath = parse.GetValue(floatOutput),
                FloatHead = parse.GetValue(floatHead),
                Percentile = parse.GetValue(percentile),
                Exclude = (parse.GetValue(exclude) ?? []).SelectMany(e => e.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)).ToHashSet(StringComparer.Ordinal),
                Progress = console.ShowProgress ? (done, total) => console.Error.Write($"\rcalibrating: {done}/{total} image runs") : null,
            };
            QuantizationReport report;
            try
            {
                report = ModelQuantizer.Quantize(path, parse.GetValue(output)!, calibration, preprocessing, labels, options);
            }
            catch (InvalidDataException e)
            {
                throw new CommandFailedException(e.Message, e);
            }
            finally
            {
                if (console.ShowProgress)
                    console.Error.WriteLine();
            }
            foreach (var note in report.Notes)
                console.Error.WriteLine("note: " + note);
            static string Counts(IReadOnlyDictionary<string, int> counts) =>
                counts.Count == 0 ? "none" : string.Join(", ", counts.Select(c => $"{c.Key} {c.Value}"));
            var upgrades = (report.UpcastFromFloat16 ? "; float16 upcast to float32" : "") + (report.OriginalOpset < 13 ? $"; opset {report.OriginalOpset} → 13" : "");
            console.Out.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"wrote {report.OutputPath}: int8 {Counts(report.Int8Operators)}; float {Counts(report.FloatOperators)}; {report.QuantizedTensors} activations quantized, {options.Method.ToString().ToLowerInvariant()} calibration on {calibration.Count} images (sha256 {calibration.Sha256[..12]}), {report.FileBytes / 1e6:F1} MB{upgrades}{(options.Equalize ? $"; {report.EqualizedConvolutions} convolutions equalised" : "")}"));
            return Task.FromResult(CommandTree.Success);
        });
        return command;
    }
}
