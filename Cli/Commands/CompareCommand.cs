using System.CommandLine;
using System.Globalization;
using ConvNeXt.Batch.Cli.Output;
using ConvNeXt.Batch.Service.Queries;

using Microsoft.Extensions.DependencyInjection;

namespace ConvNeXt.Batch.Cli.Commands;

/// <summary><c>results compare RUN_A RUN_B [--json]</c>: the paired comparison of two validation runs on the same dataset.</summary>
internal static class CompareCommand
{
    public static Command Create(CliConsole console)
    {
        var runA = new Argument<string>("RUN_A") { Description = "Baseline validation run id (A)" };
        var runB = new Argument<string>("RUN_B") { Description = "Candidate validation run id (B), on the same dataset" };
        var json = new Option<bool>("--json") { Description = "Print the comparison as JSON (the API's body)" };
        var command = new Command("compare",
            "Compare two completed validation runs on the same images: both accuracies with Wilson intervals, the images only A or only B gets right, " +
            "the exact McNemar test, the top-1 delta with its paired 95 % interval, per-class deltas and a verdict at α = 0.05")
            { runA, runB, json };
        var storage = new StorageConnectionOption(command);
        command.SetAction(async (parse, ct) =>
        {
            await using var services = CommandServices.Build(await storage.OpenAsync(parse, ct), storage.Resolve(parse), new Dictionary<string, string?>());
            var comparisons = services.GetRequiredService<RunComparisons>();
            RunComparisonReport report;
            try
            {
                report = await comparisons.CompareAsync(parse.GetValue(runA)!, parse.GetValue(runB)!, ct);
            }
            catch (Exception e) when (e is RunNotFoundException or RunsNotComparableException)
            {
                throw new UsageException(e.Message);
            }
            if (parse.GetValue(json))
            {
                console.Out.WriteLine(System.Text.Json.JsonSerializer.Serialize(report, TabularOutput.Json));
                return CommandTree.Success;
            }
            Write(console.Out, report);
            return CommandTree.Success;
        });
        return command;
    }

    private static void Write(TextWriter o, RunComparisonReport r)
    {
        static string P(double f) => (f * 100).ToString("0.00", CultureInfo.InvariantCulture) + " %";
        static string Pts(double f) => (f * 100).ToString("+0.00;-0.00;0.00", CultureInfo.InvariantCulture);
        o.WriteLine(FormattableString.Invariant($"{r.A.Count:N0} images paired (dataset {r.DatasetSha256[..12]}…){(r.Unmatched > 0 ? $", {r.Unmatched} rows in only one run left out" : "")}"));
        foreach (var (name, run) in new[] { ("A", r.A), ("B", r.B) })
            o.WriteLine($"{name} {run.RunId} ({run.Model}): top-1 {P(run.Top1)} [{P(run.Top1Ci[0])}, {P(run.Top1Ci[1])}], top-5 {P(run.Top5)} [{P(run.Top5Ci[0])}, {P(run.Top5Ci[1])}] (95 % Wilson)");
        o.WriteLine(FormattableString.Invariant($"both right {r.BothRight:N0}, only A right {r.AOnly:N0}, only B right {r.BOnly:N0}, both wrong {r.BothWrong:N0}"));
        o.WriteLine($"p = {r.PValue.ToString("G4", CultureInfo.InvariantCulture)} ({r.Test})");
        o.WriteLine($"top-1 B − A: {Pts(r.DeltaTop1)} points, 95 % interval [{Pts(r.DeltaTop1Ci[0])}, {Pts(r.DeltaTop1Ci[1])}] ({r.IntervalMethod})");
        var changed = r.PerClass.Where(c => c.DeltaTop1 != 0).Take(10).ToList();
        if (changed.Count > 0)
        {
            o.WriteLine("largest per-class changes (B − A):");
            foreach (var c in changed)
                o.WriteLine(FormattableString.Invariant($"  {c.Wnid} {c.Name?.Split(',')[0]}: {c.ACorrect}/{c.Count} → {c.BCorrect}/{c.Count} ({Pts(c.DeltaTop1)} points)"));
        }
        o.WriteLine(r.Verdict);
    }
}
