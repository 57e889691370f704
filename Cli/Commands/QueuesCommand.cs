using System.CommandLine;
using ConvNeXt.Batch.Service.Operations;

namespace ConvNeXt.Batch.Cli.Commands;

/// <summary><c>queues [--namespace NS]</c>: active, scheduled and dead-lettered messages of each queue of the deployment.</summary>
internal static class QueuesCommand
{
    public static Command Create(CliConsole console)
    {
        var command = new Command("queues", "Message counts of the deployment's Service Bus queues: active, scheduled, dead-lettered (needs Manage rights: Azure Service Bus Data Owner)");
        var serviceBus = new ServiceBusNamespaceOption(command);
        command.SetAction(async (parse, ct) =>
        {
            await using var queues = serviceBus.Open(parse);
            var counts = new List<QueueCounts>();
            foreach (var queue in QueueNames.All)
                counts.Add(await queues.CountAsync(queue, ct));
            Write(console.Out, counts);
            return CommandTree.Success;
        });
        return command;
    }

    /// <summary>One line per queue, aligned: the table scripts and people read alike.</summary>
    public static void Write(TextWriter output, IReadOnlyList<QueueCounts> counts)
    {
        output.WriteLine($"{"queue",-20} {"active",10} {"scheduled",10} {"dead-lettered",14}");
        foreach (var c in counts)
            output.WriteLine($"{c.Queue,-20} {c.Active,10} {c.Scheduled,10} {c.DeadLettered,14}");
    }
}
