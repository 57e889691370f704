using System.CommandLine;
using ConvNeXt.Batch.Scoring.Inference;
using ConvNeXt.Batch.Scoring.Pipeline;

namespace ConvNeXt.Batch.Cli.Commands;

/// <summary>Pipeline knobs shared by score, bench and watch.</summary>
internal sealed class PipelineOptions
{
    public Option<int> BatchSize { get; } = new("--batch-size") { Description = "Images per inference batch", DefaultValueFactory = _ => 16, HelpName = "N" };
    public Option<int> MaxWaitMilliseconds { get; } = new("--max-wait-ms") { Description = "Longest a partial batch waits for more images", DefaultValueFactory = _ => 50, HelpName = "MS" };
    public Option<int?> DecodeWorkers { get; } = new("--decode-workers") { Description = "Parallel decode/preprocess workers (default: cores)", HelpName = "N" };

    public PipelineOptions(Command command)
    {
        OptionParsing.Positive(BatchSize);
        OptionParsing.Positive(DecodeWorkers);
        MaxWaitMilliseconds.Validators.Add(r =>
        {
            if (r.GetValueOrDefault<int>() < 0)
                r.AddError("--max-wait-ms must not be negative");
        });
        command.Options.Add(BatchSize);
        command.Options.Add(MaxWaitMilliseconds);
        command.Options.Add(DecodeWorkers);
    }

    /// <summary>The same knobs as the storage services' settings (<see cref="Service.Services.ScoringOptions"/>), for <see cref="CommandServices"/>.</summary>
    public Dictionary<string, string?> Settings(ParseResult parse) => new()
    {
        ["Scoring:BatchSize"] = CommandServices.Setting(parse.GetValue(BatchSize)),
        ["Scoring:MaxWaitMilliseconds"] = CommandServices.Setting(parse.GetValue(MaxWaitMilliseconds)),
        ["Scoring:DecodeWorkers"] = CommandServices.Setting(parse.GetValue(DecodeWorkers) ?? Environment.ProcessorCount),
    };

    public ScoringPipelineOptions Create(ParseResult parse, ImageClassifier classifier)
    {
        var batch = parse.GetValue(BatchSize);
        if (classifier.FixedBatchSize is { } fixedBatch && fixedBatch != batch)
            batch = fixedBatch; // e.g. SqueezeNet's [1,3,224,224]: the model decides
        return new ScoringPipelineOptions
        {
            BatchSize = batch,
            MaxWait = TimeSpan.FromMilliseconds(parse.GetValue(MaxWaitMilliseconds)),
            DecodeWorkers = parse.GetValue(DecodeWorkers) ?? Environment.ProcessorCount,
            TopK = 5,
        };
    }
}
