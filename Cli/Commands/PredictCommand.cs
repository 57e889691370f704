using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using ConvNeXt.Batch.Cli.Output;
using ConvNeXt.Batch.Scoring.Pipeline;
using Spectre.Console;

namespace ConvNeXt.Batch.Cli.Commands;

/// <summary><c>predict IMAGE...</c>: the top classes of each image (5 unless --top).</summary>
internal static class PredictCommand
{
    public static Command Create(CliConsole console)
    {
        var images = new Argument<string[]>("IMAGE") { Description = "Image files", Arity = ArgumentArity.OneOrMore };
        var json = new Option<bool>("--json") { Description = "One JSON object per image (JSON lines) instead of a table" };
        var top = new Option<int>("--top") { Description = "Classes per image", DefaultValueFactory = _ => 5, HelpName = "K" };
        OptionParsing.Positive(top);
        var command = new Command("predict", "Classify images and print the top classes of each") { images, json, top };
        images.Validators.Add(r =>
        {
            foreach (var path in r.Tokens.Select(t => t.Value))
                if (Directory.Exists(path))
                {
                    r.AddError($"{path} is a folder; predict takes image files: for a folder use 'score {path}'");
                    return;
                }
        });
        var model = new ModelCommandOptions(command);
        command.SetAction(async (parse, ct) =>
        {
            using var classifier = model.Load(parse, console);
            var files = parse.GetValue(images)!;
            var inputs = files.Select(f => new ImageInput(f, async c => await File.ReadAllBytesAsync(f, c))).ToAsyncEnumerable();
            var pipeline = new ScoringPipeline(classifier, new ScoringPipelineOptions
            {
                BatchSize = Math.Min(16, files.Length),
                TopK = parse.GetValue(top),
            });
            var results = new List<ScoreRecord>();
            await foreach (var scored in pipeline.RunAsync(inputs, ct))
                results.Add(PredictionFormatting.ToRecord(scored));
            // The pipeline may finish images out of order; print them in the order given.
            var order = files.Select((f, i) => (f, i)).GroupBy(p => p.f).ToDictionary(g => g.Key, g => g.First().i);
            results.Sort((a, b) => order[a.Source].CompareTo(order[b.Source]));

            if (parse.GetValue(json))
            {
                await using var writer = PredictionWriter.JsonLines(console.Out);
                foreach (var record in results)
                    await writer.WriteAsync(record, ct);
            }
            else
            {
                foreach (var record in results)
                    WriteTable(console, record);
            }
            return results.Any(r => r.Error is not null) ? CommandTree.Failure : CommandTree.Success;
        });
        return command;
    }

    private static void WriteTable(CliConsole console, ScoreRecord record)
    {
        if (record.Error is not null)
        {
            console.Tables.WriteLine($"{record.Source}: ERROR {record.Error}");
            return;
        }
        var table = new Table { Title = new TableTitle(Markup.Escape(record.Source)), Border = TableBorder.Rounded };
        table.AddColumn("#").AddColumn("class").AddColumn("wnid").AddColumn("name").AddColumn(new TableColumn("probability").RightAligned());
        var rank = 1;
        foreach (var c in record.Top!)
            table.AddRow((rank++).ToString(CultureInfo.InvariantCulture), c.Index.ToString(CultureInfo.InvariantCulture),
                Markup.Escape(c.Wnid ?? "-"), Markup.Escape(c.Name ?? "-"), PredictionWriter.FormatProbability(c.Probability));
        console.Tables.Write(table);
    }
}
