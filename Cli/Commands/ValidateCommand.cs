using System.CommandLine;

namespace ConvNeXt.Batch.Cli.Commands;

internal static class ValidateCommand
{
    public static Command Create(CliConsole console)
    {
        var command = new Command("validate", "Top-1/top-5 accuracy on a labelled dataset");
        return command;
    }
}
