using System.CommandLine;
using System.Globalization;
using ConvNeXt.Batch.Service.Operations;

namespace ConvNeXt.Batch.Cli.Commands;

/// <summary>
/// <c>deadletters list QUEUE [--max N]</c> and <c>deadletters replay QUEUE [--max N] [--dry-run]</c>: what gave
/// up on which blob, run chunk or job, and sending it back once the cause is fixed (<see cref="DeadLetterService"/>).
/// </summary>
internal static class DeadLettersCommand
{
    public static Command Create(CliConsole console)
    {
        var command = new Command("deadletters", "Dead-lettered Service Bus messages: list them, or send them back to their queue");
        command.Subcommands.Add(List(console));
        command.Subcommands.Add(Replay(console));
        return command;
    }

    private static Argument<string> QueueArgument()
    {
        var queue = new Argument<string>("QUEUE") { Description = $"Queue: {string.Join(" or ", QueueNames.All)}" };
        queue.Validators.Add(r =>
        {
            if (r.GetValueOrDefault<string>() is { } name && !QueueNames.All.Contains(name))
                r.AddError($"unknown queue '{name}': use {string.Join(" or ", QueueNames.All)}");
        });
        return queue;
    }

    private static Option<int> MaxOption(string description)
    {
        var max = new Option<int>("--max") { Description = description, DefaultValueFactory = _ => 100, HelpName = "N" };
        OptionParsing.Positive(max);
        return max;
    }

    private static Command List(CliConsole console)
    {
        var queue = QueueArgument();
        var max = MaxOption("Most messages listed, oldest first");
        var command = new Command("list", "List dead letters: sequence number, reason, description, delivery count, enqueued time, and the blob, run chunk or job each refers to")
        {
            queue, max,
        };
        var serviceBus = new ServiceBusNamespaceOption(command);
        command.SetAction(async (parse, ct) =>
        {
            await using var queues = serviceBus.Open(parse);
            var letters = await queues.DeadLetters(parse.GetValue(queue)!).ListAsync(parse.GetValue(max), ct);
            Write(console.Out, letters);
            console.Info($"{letters.Count} dead letter(s) in {parse.GetValue(queue)}");
            return CommandTree.Success;
        });
        return command;
    }

    private static Command Replay(CliConsole console)
    {
        var queue = QueueArgument();
        var max = MaxOption("Most messages sent back");
        var dryRun = new Option<bool>("--dry-run") { Description = "Only list what would be sent back; change nothing" };
        var command = new Command("replay", "Send dead letters back to their queue: each is sent first, then its dead-lettered copy removed (never the other order)")
        {
            queue, max, dryRun,
        };
        var serviceBus = new ServiceBusNamespaceOption(command);
        command.SetAction(async (parse, ct) =>
        {
            await using var queues = serviceBus.Open(parse);
            var name = parse.GetValue(queue)!;
            var outcome = await queues.DeadLetters(name).ReplayAsync(parse.GetValue(max), parse.GetValue(dryRun), ct);
            Write(console.Out, outcome.Replayed);
            console.Info(outcome.DryRun
                ? $"dry run: {outcome.Replayed.Count} message(s) would be sent back to {name}"
                : $"sent {outcome.Replayed.Count} message(s) back to {name}");
            if (outcome.Failure is { } failure)
                throw new CommandFailedException($"replay stopped after {outcome.Replayed.Count}: {failure}");
            return CommandTree.Success;
        });
        return command;
    }

    /// <summary>One tab-separated line per dead letter (sequence, enqueued, deliveries, reason, description, refers to).</summary>
    public static void Write(TextWriter output, IReadOnlyList<DeadLetter> letters)
    {
        foreach (var d in letters)
            output.WriteLine(string.Join('\t',
                d.SequenceNumber.ToString(CultureInfo.InvariantCulture),
                d.EnqueuedTime.UtcDateTime.ToString("yyyy-MM-ddTHH:mm:ssZ", CultureInfo.InvariantCulture),
                d.DeliveryCount.ToString(CultureInfo.InvariantCulture),
                d.Reason ?? "-",
                OneLine(d.Description),
                d.Refers));
    }

    private static string OneLine(string? text) => string.IsNullOrEmpty(text) ? "-" : text.ReplaceLineEndings(" ").Replace('\t', ' ');
}
