using System.CommandLine;
using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Azure.Storage.Blobs;
using ConvNeXt.Batch.Cli.Output;
using ConvNeXt.Batch.Cli.Sources;
using ConvNeXt.Batch.Service.Contracts;
using ConvNeXt.Batch.Service.Local;
using ConvNeXt.Batch.Service.Services;
using ConvNeXt.Batch.Service.Storage;
using ConvNeXt.Batch.Service.Validation;
using ConvNeXt.Batch.Scoring.Evaluation;
using ConvNeXt.Batch.Scoring.Inference;
using ConvNeXt.Batch.Scoring.Labels;
using Spectre.Console;

using Microsoft.Extensions.DependencyInjection;

namespace ConvNeXt.Batch.Cli.Commands;

/// <summary>
/// <c>validate DATASET</c>: top-1 / top-5 on a labelled set, per-class accuracy, most-confused pairs,
/// and the comparison with the model's published accuracy. With <c>--record</c> (or an explicit
/// <c>--connection-string</c>) the run goes through the Functions validation service and lands in
/// the validation tables exactly like a cloud run.
/// </summary>
internal static class ValidateCommand
{
    public static Command Create(CliConsole console)
    {
        var dataset = new Argument<string>("DATASET")
        {
            Description = "Folder of labelled images (class subfolders, <wnid>_*.JPEG names, or a flat folder with a val.txt-style list), or blob://container/prefix with --record",
        };
        var groundTruth = new Option<string?>("--ground-truth")
        {
            Description = "Labels of the images: val.txt-style list ('file index' per line) or devkit ground truth; with a blob:// DATASET, the list's blob path, 'names' or 'folders'",
            HelpName = "FILE",
        };
        var json = new Option<bool>("--json") { Description = "Print the metrics as JSON (top1, top5 in percent; count)" };
        var perClass = new Option<string?>("--per-class") { Description = "Write per-class accuracy to this CSV file", HelpName = "FILE.csv" };
        var confused = new Option<int>("--confused") { Description = "How many most-confused class pairs to show", DefaultValueFactory = _ => 10, HelpName = "N" };
        var record = new Option<bool>("--record") { Description = "Run through the validation service and write ValidationRuns/ValidationChunks/ValidationPredictions (implied by --connection-string)" };
        var container = new Option<string>("--container") { Description = "Container the dataset is uploaded to when recording", DefaultValueFactory = _ => ContainerNames.Validation, HelpName = "NAME" };
        var chunkSize = new Option<int>("--chunk-size") { Description = "Images per validation chunk when recording", DefaultValueFactory = _ => 100, HelpName = "N" };
        var quiet = new Option<bool>("--quiet", "-q") { Description = "No progress bar" };
        OptionParsing.Positive(chunkSize);
        OptionParsing.ExistingFile(groundTruth);
        OptionParsing.WritableFile(perClass);
        var command = new Command("validate", "Measure top-1/top-5 accuracy on a labelled dataset (optionally recorded as a validation run)")
        {
            dataset, groundTruth, json, perClass, confused, record, container, chunkSize, quiet,
        };
        var model = new ModelCommandOptions(command, acceptsReference: true);
        var pipelineOptions = new PipelineOptions(command);
        var storage = new StorageConnectionOption(command);
        command.Validators.Add(r =>
        {
            var value = r.GetValue(dataset);
            var remote = value?.StartsWith("blob://", StringComparison.OrdinalIgnoreCase) == true;
            if (value is not null && !remote && !Directory.Exists(value))
                r.AddError($"dataset folder not found: {value}");
            if (remote && !r.GetValue(record) && r.GetValue(storage.ConnectionString) is null)
                r.AddError("a blob:// dataset needs --record or --connection-string");
        });
        // --ground-truth on a blob dataset names a blob, not a local file: checked by the service.
        groundTruth.Validators.Clear();

        var job = new Inputs(dataset, groundTruth, json, perClass, confused, record, container, chunkSize, quiet, model, pipelineOptions, storage);
        command.SetAction((parse, ct) => new Invocation(console, job, parse).RunAsync(ct));
        return command;
    }

    /// <summary>The options of the command, for <see cref="Invocation"/> to read.</summary>
    internal sealed record Inputs(Argument<string> Dataset, Option<string?> GroundTruth, Option<bool> Json, Option<string?> PerClass,
        Option<int> Confused, Option<bool> Record, Option<string> Container, Option<int> ChunkSize, Option<bool> Quiet,
        ModelCommandOptions Model, PipelineOptions Pipeline, StorageConnectionOption Storage);

    /// <summary>One <c>validate</c> invocation: resolve labels, measure (a <see cref="LocalValidation"/>, locally or recorded), report.</summary>
    private sealed class Invocation(CliConsole console, Inputs inputs, ParseResult parse)
    {
        private string DatasetValue => parse.GetValue(inputs.Dataset)!;
        private bool Remote => DatasetValue.StartsWith("blob://", StringComparison.OrdinalIgnoreCase);

        /// <summary>The repository model validated (--model NAME@VERSION), or null for a model file.</summary>
        private Service.Models.ModelManifest? _manifest;

        private string ModelName(ImageClassifier classifier) => _manifest?.Reference.ToString() ?? classifier.ModelId;

        private bool? Trained(ImageClassifier classifier) => _manifest?.Trained ?? classifier.Metadata.Trained;

        public async Task<int> RunAsync(CancellationToken ct)
        {
            var (truth, classTable) = ResolveLabels();
            ImageClassifier classifier;
            if (inputs.Model.Reference(parse) is { } reference)
                (classifier, _manifest) = await RepositoryModels.LoadAsync(await inputs.Storage.OpenAsync(parse, ct), reference, inputs.Model.Inference(parse), console, ct);
            else
                classifier = inputs.Model.Load(parse, console, classTable, useLabelsOption: false);
            // The provider's engine owns (and disposes) the classifier; a repository model's runs name it (NAME@VERSION).
            await using var services = CommandServices.Build(null, null, inputs.Pipeline.Settings(parse), classifier, manifest: _manifest);
            var engine = services.GetRequiredService<ScoringEngine>();
            var labels = classifier.Labels
                ?? throw new CommandFailedException("the model carries no class labels: give --labels LOC_synset_mapping.txt");
            var job = new LocalValidation(engine, new LocalValidationOptions
            {
                Pipeline = inputs.Pipeline.Create(parse, classifier),
                Confused = parse.GetValue(inputs.Confused),
            });
            var recording = parse.GetValue(inputs.Record) || parse.GetValue(inputs.Storage.ConnectionString) is not null;
            var outcome = recording
                ? await RecordAsync(job, engine, labels, truth, ct)
                : await EvaluateAsync(job, labels, truth, ct);

            if (parse.GetValue(inputs.PerClass) is { } csvPath)
                await WritePerClassAsync(csvPath, outcome.PerClass, labels, console, ct);
            if (parse.GetValue(inputs.Json))
                console.Out.WriteLine(ToJson(classifier, outcome, labels).ToJsonString(new JsonSerializerOptions { WriteIndented = true }));
            else
                WriteReport(console, ModelName(classifier), Trained(classifier), DatasetValue, outcome,
                    _manifest is { ReferenceTop1: { } top1 } m ? new Scoring.Models.ReferenceAccuracy(top1, m.ReferenceTop5, m.ReferenceSource ?? "manifest") : classifier.Metadata.ReferenceAccuracy,
                    labels);
            return CommandTree.Success;
        }

        /// <summary>The ground truth and the class table, telling apart what <c>--labels</c> names by its content.</summary>
        private (string? Truth, ClassLabels? ClassTable) ResolveLabels()
        {
            var truth = parse.GetValue(inputs.GroundTruth);
            if (!Remote && truth is not null && !File.Exists(truth))
                throw new UsageException($"--ground-truth: file not found: {truth}");

            // --labels may name the ground truth (val.txt) instead of a class table.
            ClassLabels? classTable = null;
            if (parse.GetValue(inputs.Model.Labels) is { } labelsPath)
            {
                if (LabelFiles.IsGroundTruth(labelsPath) && truth is null)
                    truth = labelsPath;
                else
                    classTable = ClassLabels.Load(labelsPath);
            }

            // A model without a class table (e.g. SqueezeNet) validated against val.txt: use the table beside it.
            if (classTable is null && truth is not null && !Remote && inputs.Model.Reference(parse) is null
                && Scoring.Onnx.OnnxModelInfo.Read(inputs.Model.ModelPath(parse)).Metadata.Labels is null
                && LabelFiles.ClassTableBeside(truth) is { } beside)
                classTable = ClassLabels.Load(beside);
            return (truth, classTable);
        }

        private async Task<ValidationOutcome> EvaluateAsync(LocalValidation job, ClassLabels labels, string? truth, CancellationToken ct)
        {
            var data = OpenDataset(DatasetValue, labels, truth, console);
            using var progress = new Output.ProgressLine(console.Error, console.ShowProgress && !parse.GetValue(inputs.Quiet), "img", data.Images.Count);
            long done = 0;
            return await job.EvaluateAsync(data, () => progress.Report(++done), ct);
        }

        private async Task<ValidationOutcome> RecordAsync(LocalValidation job, ScoringEngine engine, ClassLabels labels, string? truth,
            CancellationToken ct)
        {
            var account = await inputs.Storage.OpenAsync(parse, ct);
            var chunkSize = parse.GetValue(inputs.ChunkSize);
            var request = Remote
                ? RemoteRequest(DatasetValue, truth, chunkSize)
                : await UploadAsync(account, OpenDataset(DatasetValue, labels, truth, console), parse.GetValue(inputs.Container)!, chunkSize, console,
                    console.ShowProgress && !parse.GetValue(inputs.Quiet), ct);
            var settings = inputs.Pipeline.Settings(parse);
            settings["Validation:ChunkSize"] = CommandServices.Setting(chunkSize);
            settings["ValidationDefaults:Container"] = request.Container ?? ContainerNames.Validation;
            // The engine stays the one this command made (an instance registration: the provider does not dispose it).
            await using var services = CommandServices.Build(account, inputs.Storage.Resolve(parse), settings, configure: s => s.AddSingleton(engine));
            var service = services.GetRequiredService<ValidationRunService>();
            try
            {
                return await job.RecordAsync(service, request, ct);
            }
            catch (DatasetException e)
            {
                throw new CommandFailedException(e.Message, e);
            }
        }

        private JsonObject ToJson(ImageClassifier classifier, ValidationOutcome outcome, ClassLabels labels)
        {
            var metrics = outcome;
            var reference = classifier.Metadata.ReferenceAccuracy;
            return new JsonObject
            {
                ["model"] = ModelName(classifier),
                ["dataset"] = DatasetValue,
                ["count"] = metrics.Count,
                ["errors"] = metrics.Errors,
                ["top1"] = Math.Round(metrics.Top1, 4),
                ["top5"] = Math.Round(metrics.Top5, 4),
                ["mean_confidence"] = Math.Round(metrics.MeanConfidence, 6),
                ["trained"] = Trained(classifier),
                ["reference"] = reference is null ? null : new JsonObject
                {
                    ["top1"] = reference.Top1,
                    ["top5"] = reference.Top5,
                    ["source"] = reference.Source,
                    ["top1_delta_points"] = Math.Round(metrics.Top1 - reference.Top1, 4),
                    ["top5_delta_points"] = reference.Top5 is { } r5 ? Math.Round(metrics.Top5 - r5, 4) : null,
                },
                ["most_confused"] = new JsonArray([.. outcome.Confused.Select(p => (JsonNode)new JsonObject
                {
                    ["true"] = labels[p.Actual].Wnid,
                    ["true_name"] = labels[p.Actual].Name,
                    ["predicted"] = labels[p.Predicted].Wnid,
                    ["predicted_name"] = labels[p.Predicted].Name,
                    ["count"] = p.Count,
                })]),
                ["run_id"] = outcome.RunId,
            };
        }
    }

    private static LabelledDataset OpenDataset(string folder, ClassLabels labels, string? truth, CliConsole console)
    {
        try
        {
            var data = LabelledDataset.Open(folder, labels, LabelFiles.DatasetOptions(truth));
            if (data.Images.Count == 0)
                throw new CommandFailedException($"no labelled images in {folder}");
            if (data.Unlabelled.Count > 0)
                console.Warn($"{Counted.Of(data.Unlabelled.Count, "image")} {(data.Unlabelled.Count == 1 ? "has" : "have")} no label in this layout ({data.Layout}) and {(data.Unlabelled.Count == 1 ? "is" : "are")} left out, e.g. {data.Unlabelled[0]}");
            // Images the layout never looked at (e.g. subfolders of a flat val.txt folder) are left out too: say so.
            var all = Directory.EnumerateFiles(folder, "*", SearchOption.AllDirectories).Count(LabelledDataset.IsImageFile);
            var ignored = all - data.Images.Count - data.Unlabelled.Count;
            if (ignored > 0)
                console.Warn($"{ignored} image(s) in subfolders are ignored: the {data.Layout} layout reads only {(data.Layout == DatasetLayout.ImageFolder ? "the class folders" : "the top folder")}");
            return data;
        }
        catch (DatasetFormatException e)
        {
            throw new CommandFailedException(e.Message, e);
        }
    }

    private static ValidationRunRequest RemoteRequest(string value, string? truth, int chunkSize)
    {
        var source = (BlobImageSource)ImageSource.Parse(value, null, null);
        return new ValidationRunRequest { Container = source.Container, Prefix = source.Prefix, Labels = truth ?? "names", ChunkSize = chunkSize };
    }

    private static async Task<ValidationRunRequest> UploadAsync(StorageAccount account, LabelledDataset data, string containerName,
        int chunkSize, CliConsole console, bool showProgress, CancellationToken ct)
    {
        console.Info($"uploading {data.Images.Count} labelled images to blob://{containerName}/{new DirectoryInfo(data.Root).Name}/");
        using var progress = new Output.ProgressLine(console.Error, showProgress, "img", data.Images.Count);
        return await new Service.Uploads.ImageUploader(account, new Service.Uploads.ImageUploadOptions()).UploadLabelledAsync(data, containerName, chunkSize,
            progress, ct);
    }

    private static async Task WritePerClassAsync(string path, IEnumerable<ClassAccuracy> rows,
        ClassLabels labels, CliConsole console, CancellationToken ct)
    {
        await using var writer = new StreamWriter(Output.OutputFile.Open(path), new UTF8Encoding(false));
        using var csv = CsvHelper.CsvWriter.Create(writer, new CsvHelper.CsvWriterOptions(), leaveOpen: true);
        foreach (var header in new[] { "index", "wnid", "name", "images", "top1_correct", "top5_correct", "top1", "top5" })
            csv.WriteField(header);
        csv.EndRecord();
        foreach (var row in rows.Where(r => r.Images > 0).OrderBy(r => r.Index))
        {
            csv.WriteField(row.Index.ToString(CultureInfo.InvariantCulture));
            csv.WriteField(labels[row.Index].Wnid);
            csv.WriteField(labels[row.Index].Name);
            csv.WriteField(row.Images.ToString(CultureInfo.InvariantCulture));
            csv.WriteField(row.Top1Correct.ToString(CultureInfo.InvariantCulture));
            csv.WriteField(row.Top5Correct.ToString(CultureInfo.InvariantCulture));
            csv.WriteField((100.0 * row.Top1Correct / row.Images).ToString("0.##", CultureInfo.InvariantCulture));
            csv.WriteField((100.0 * row.Top5Correct / row.Images).ToString("0.##", CultureInfo.InvariantCulture));
            await csv.EndRecordAsync(ct);
        }
        csv.Flush();
    }

    private static void WriteReport(CliConsole console, string model, bool? trained, string dataset, ValidationOutcome m,
        Scoring.Models.ReferenceAccuracy? reference, ClassLabels labels)
    {
        var (confused, runId) = (m.Confused, m.RunId);
        var table = new Table { Border = TableBorder.Rounded, Title = new TableTitle(Markup.Escape($"{model}{(trained == false ? " (UNTRAINED)" : "")} on {dataset}")) };
        table.AddColumn("metric").AddColumn(new TableColumn("measured").RightAligned()).AddColumn(new TableColumn("reference").RightAligned()).AddColumn(new TableColumn("Δ points").RightAligned());
        string P(double v) => v.ToString("F2", CultureInfo.InvariantCulture) + " %";
        string D(double v) => v.ToString("+0.00;-0.00", CultureInfo.InvariantCulture);
        table.AddRow("top-1", P(m.Top1), reference is null ? "-" : P(reference.Top1), reference is null ? "-" : D(m.Top1 - reference.Top1));
        table.AddRow("top-5", P(m.Top5), reference?.Top5 is { } r5 ? P(r5) : "-", reference?.Top5 is { } d5 ? D(m.Top5 - d5) : "-");
        table.AddRow("images", m.Count.ToString(CultureInfo.InvariantCulture), "", "");
        table.AddRow("errors", m.Errors.ToString(CultureInfo.InvariantCulture), "", "");
        table.AddRow("mean confidence", m.MeanConfidence.ToString("F3", CultureInfo.InvariantCulture), "", "");
        console.Tables.Write(table);
        if (reference is not null)
            console.Out.WriteLine($"reference: {reference.Source}");
        if (trained == false)
            console.Out.WriteLine("UNTRAINED WEIGHTS: accuracy is expected to be at chance level.");
        if (confused.Count > 0)
        {
            var pairs = new Table { Border = TableBorder.Rounded, Title = new TableTitle("most confused (true → predicted)") };
            pairs.AddColumn("true").AddColumn("predicted").AddColumn(new TableColumn("count").RightAligned());
            foreach (var (actual, predicted, count) in confused)
                pairs.AddRow(Markup.Escape($"{labels[actual].Wnid} {labels[actual].Name}"), Markup.Escape($"{labels[predicted].Wnid} {labels[predicted].Name}"),
                    count.ToString(CultureInfo.InvariantCulture));
            console.Tables.Write(pairs);
        }
        if (runId is not null)
            console.Out.WriteLine($"recorded as validation run {runId} ({CliInvocation.Command} results run {runId})");
    }
}
