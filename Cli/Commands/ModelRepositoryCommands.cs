using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using ConvNeXt.Batch.Service.Models;
using Spectre.Console;

using ConvNeXt.Batch.Service.Queries;

using Microsoft.Extensions.DependencyInjection;

namespace ConvNeXt.Batch.Cli.Commands;

/// <summary><c>model push | list | promote</c>: the model repository in the storage account (docs/models.md).</summary>
internal static class ModelRepositoryCommands
{
    public static IEnumerable<Command> Create(CliConsole console) => [Push(console), List(console), Promote(console)];


    private static Command Push(CliConsole console)
    {
        var file = new Argument<string>("FILE.onnx") { Description = "ONNX model file to upload" };
        OptionParsing.ExistingFile(file);
        var name = new Option<string>("--name") { Description = "Model name (a-z, 0-9, '.', '_', '-')", Required = true, HelpName = "NAME" };
        var version = new Option<string>("--version") { Description = "Version; an existing version is never overwritten", Required = true, HelpName = "V" };
        var preprocessing = new Option<string?>("--preprocessing") { Description = "Preprocessing preset for a model that carries none (caffe for SqueezeNet)", HelpName = "timm|mindcv|torchvision|caffe" }
            .AcceptOnlyFromAmong("timm", "mindcv", "torchvision", "caffe");
        var labels = new Option<string?>("--labels") { Description = "Class label table pushed beside a model that carries none (LOC_synset_mapping.txt)", HelpName = "FILE" };
        OptionParsing.ExistingFile(labels);
        var untrained = new Option<bool>("--untrained") { Description = "Mark the model untrained (random weights) when its file does not say so" };
        var json = new Option<bool>("--json") { Description = "Print the manifest as JSON" };
        var command = new Command("push", "Upload a model to the repository (models/NAME/VERSION/) with its manifest") { file, name, version, preprocessing, labels, untrained, json };
        var storage = new StorageConnectionOption(command);
        command.Validators.Add(r =>
        {
            if (r.GetValue(name) is { } n && r.GetValue(version) is { } v && ModelReference.Problem($"{n}@{v}") is { } problem)
                r.AddError(problem);
        });
        command.SetAction(async (parse, ct) =>
        {
            var reference = ModelReference.Parse($"{parse.GetValue(name)}@{parse.GetValue(version)}");
            var account = await storage.OpenAsync(parse, ct);
            ModelManifest manifest;
            try
            {
                manifest = await CommandServices.Repository(account).PushAsync(new ModelPushRequest
                {
                    File = parse.GetValue(file)!,
                    Reference = reference,
                    Preprocessing = parse.GetValue(preprocessing),
                    LabelsFile = parse.GetValue(labels),
                    Trained = parse.GetValue(untrained) ? false : null,
                }, ct);
            }
            catch (ModelVersionExistsException e)
            {
                throw new CommandFailedException("refused: " + e.Message, e);
            }
            if (parse.GetValue(json))
                console.Out.WriteLine(manifest.ToJson());
            else
                console.Out.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"pushed {manifest.Reference}: sha256 {manifest.Sha256}, {manifest.Bytes / 1e6:F1} MB{(manifest.Trained ? "" : ", UNTRAINED")}" +
                    $" → models/{ModelRepository.Folder(manifest.Reference)}"));
            return CommandTree.Success;
        });
        return command;
    }

    private static Command List(CliConsole console)
    {
        var json = new Option<bool>("--json") { Description = "Print JSON instead of a table" };
        var command = new Command("list", "List the repository's models, versions and aliases") { json };
        var storage = new StorageConnectionOption(command);
        command.SetAction(async (parse, ct) =>
        {
            var repository = CommandServices.Repository(await storage.OpenAsync(parse, ct));
            var manifests = await repository.ListAsync(ct);
            var aliases = await repository.ListAliasesAsync(ct);
            string Aliases(ModelManifest m) => string.Join(", ", aliases.Where(a => a.Value == m.Reference).Select(a => a.Key).Order(StringComparer.Ordinal));
            if (parse.GetValue(json))
            {
                console.Out.WriteLine(new JsonArray([.. manifests.Select(m =>
                {
                    var node = JsonSerializer.SerializeToNode(m, ModelManifest.Json)!.AsObject();
                    node["reference"] = m.Reference.ToString();
                    node["aliases"] = new JsonArray([.. Aliases(m).Split(", ", StringSplitOptions.RemoveEmptyEntries).Select(a => (JsonNode)a)]);
                    return (JsonNode)node;
                })]).ToJsonString(new JsonSerializerOptions { WriteIndented = true }));
                return CommandTree.Success;
            }
            if (manifests.Count == 0)
            {
                console.Out.WriteLine($"no models in the repository: push one with '{CliInvocation.Command} model push FILE.onnx --name NAME --version V'");
                return CommandTree.Success;
            }
            var table = new Table { Border = TableBorder.Rounded, Title = new TableTitle("models") };
            foreach (var column in new[] { "model", "aliases", "sha256", "MB", "trained", "architecture", "preprocessing", "pushed by", "pushed at" })
                table.AddColumn(column);
            foreach (var m in manifests)
                table.AddRow(Markup.Escape(m.Reference.ToString()), Markup.Escape(Aliases(m)), m.Sha256[..12],
                    (m.Bytes / 1e6).ToString("F1", CultureInfo.InvariantCulture), m.Trained ? "yes" : "UNTRAINED",
                    Markup.Escape(m.Architecture ?? "-"), Markup.Escape(m.Preprocessing ?? "(model's own)"), Markup.Escape(m.PushedBy ?? "-"),
                    m.PushedAt.ToString("u", CultureInfo.InvariantCulture));
            console.Tables.Write(table);
            return CommandTree.Success;
        });
        return command;
    }

    private static Command Promote(CliConsole console)
    {
        var model = new Argument<string>("NAME@VERSION") { Description = "The model new events are scored with from now on" };
        model.Validators.Add(r =>
        {
            if (r.GetValueOrDefault<string>() is { } text && ModelReference.Problem(text) is { } problem)
                r.AddError(problem);
            else if (r.GetValueOrDefault<string>() is { } exact && !ModelReference.Parse(exact).IsExact)
                r.AddError($"promote needs NAME@VERSION, not '{exact}'");
        });
        var require = new Option<string?>("--require")
        {
            Description = "Refuse unless validation run B (of this model) is not worse than run A (paired exact McNemar test on their per-image rows, α = 0.05)",
            HelpName = "RUN_A,RUN_B",
        };
        require.Validators.Add(r =>
        {
            if (r.GetValueOrDefault<string?>() is { } text && text.Split(',') is not [{ Length: > 0 }, { Length: > 0 }])
                r.AddError($"--require expects RUN_A,RUN_B, got '{text}'");
        });
        var command = new Command("promote", "Make NAME@VERSION the default model (the alias new events follow; workers see it within Models__AliasCacheSeconds)") { model, require };
        var storage = new StorageConnectionOption(command);
        command.SetAction(async (parse, ct) =>
        {
            var reference = ModelReference.Parse(parse.GetValue(model));
            var account = await storage.OpenAsync(parse, ct);
            await using var services = CommandServices.Build(account, storage.Resolve(parse), new Dictionary<string, string?>());
            var repository = services.GetRequiredService<ModelRepository>();
            await RepositoryModels.ManifestAsync(account, reference, ct); // unknown → exit 2 naming it
            if (parse.GetValue(require) is { } runs)
            {
                var (runA, runB) = (runs.Split(',')[0], runs.Split(',')[1]);
                RunComparisonReport comparison;
                try
                {
                    comparison = await services.GetRequiredService<RunComparisons>().CompareAsync(runA, runB, ct);
                }
                catch (Exception e) when (e is RunNotFoundException or RunsNotComparableException)
                {
                    throw new UsageException(e.Message);
                }
                if (comparison.B.Model != reference.ToString())
                    throw new CommandFailedException($"refused: run {runB} validated {comparison.B.Model}, not {reference}: --require RUN_A,RUN_B needs a run B of the promoted model");
                var paired = comparison.BothRight + comparison.AOnly + comparison.BOnly + comparison.BothWrong;
                console.Out.WriteLine($"{paired} paired images: {comparison.AOnly} only {comparison.A.Model} ({runA}) gets right, " +
                                      $"{comparison.BOnly} only {comparison.B.Model} ({runB}) gets right; {comparison.Verdict}");
                if (!comparison.BNotWorse)
                    throw new CommandFailedException($"refused: {reference} is worse than {comparison.A.Model} on the paired images (p = {comparison.PValue.ToString("G4", CultureInfo.InvariantCulture)})");
            }
            var previous = await repository.PromoteAsync(reference, null, ct);
            console.Out.WriteLine($"promoted {reference} to default (was {previous?.ToString() ?? "the deployed model"}); workers follow within Models__AliasCacheSeconds");
            return CommandTree.Success;
        });
        return command;
    }
}
