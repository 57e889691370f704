using ConvNeXt.Batch.Cli.Commands;
using ConvNeXt.Batch.Cli.Output;
using ConvNeXt.Batch.Service.Queries;

namespace ConvNeXt.Batch.Cli.Tests;

/// <summary>Tables fit an 80-column terminal: low-value columns are left out (and named), ids and numbers are never broken.</summary>
public class TableWidthTests
{
    [Fact]
    public void A_runs_table_fits_80_columns_without_breaking_an_id_or_a_number()
    {
        var output = new StringWriter();
        var error = new StringWriter();
        var console = new CliConsole(output, error, interactive: false);
        console.Tables.Profile.Width = 80;
        var run = new ValidationRunSummary("20261122T224949Z-32c9d67a", "Completed", "http", "convnext_tiny.fb_in1k-fp16", null, "validation",
            "imagenet-val/", "labels/val.txt", 50000, 500, 100, DateTimeOffset.UnixEpoch, null, 50000, 49997, 3, 0.82104, 0.95912, 0.8,
            82.1, 95.9, null, null, Ece: 0.021);
        TabularOutput.Write(console, TabularFormat.Table, "Validation runs", [run], ResultsCommand.RunColumns);

        var lines = output.ToString().Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.All(lines, l => Assert.True(l.TrimEnd('\r').Length <= 80, $"{l.Length}: {l}"));
        var row = Assert.Single(lines, l => l.Contains("20261122T224949Z-32c9d67a"));
        Assert.Contains("82.10", row);
        Assert.Contains("95.91", row);
        Assert.Contains("50000", row);
        Assert.Equal("1 row", lines[^1].TrimEnd('\r'));
        Assert.StartsWith("left out to fit 80 columns: ", error.ToString());
        Assert.Contains("created", error.ToString());
    }
}
