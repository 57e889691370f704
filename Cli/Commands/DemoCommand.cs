using System.CommandLine;

namespace ConvNeXt.Batch.Cli.Commands;

internal static class DemoCommand
{
    public static Command Create(CliConsole console)
    {
        var command = new Command("demo", "The quick-start job");
        return command;
    }
}
