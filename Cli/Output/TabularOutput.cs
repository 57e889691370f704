using ConvNeXt.Batch.Service.Local;
using System.Globalization;
using System.Text.Json;
using ConvNeXt.Batch.Cli.Commands;
using CsvHelper;
using Spectre.Console;

namespace ConvNeXt.Batch.Cli.Output;

public enum TabularFormat { Table, Csv, Json }

/// <summary>Writes query results as a Spectre table, CSV, or JSON (the JSON being the full records, not the table's columns).</summary>
internal static class TabularOutput
{
    public static readonly JsonSerializerOptions Json = new(Service.Contracts.ContractJson.Options) { WriteIndented = true };

    public static TabularFormat Parse(string value) => value switch
    {
        "csv" => TabularFormat.Csv,
        "json" => TabularFormat.Json,
        _ => TabularFormat.Table,
    };

    public static void Write<T>(CliConsole console, TabularFormat format, string title, IReadOnlyList<T> records,
        IReadOnlyList<(string Header, Func<T, object?> Value)> columns)
    {
        switch (format)
        {
            case TabularFormat.Json:
                console.Out.WriteLine(JsonSerializer.Serialize(records, Json));
                break;
            case TabularFormat.Csv:
                using (var csv = CsvWriter.Create(console.Out, new CsvWriterOptions(), leaveOpen: true))
                {
                    foreach (var column in columns)
                        csv.WriteField(column.Header);
                    csv.EndRecord();
                    foreach (var record in records)
                    {
                        foreach (var column in columns)
                            csv.WriteField(Text(column.Value(record)));
                        csv.EndRecord();
                    }
                }
                break;
            default:
                var cells = records.Select(r => columns.Select(c => Text(c.Value(r))).ToArray()).ToList();
                var kept = Fit(columns.Select((c, i) => Math.Max(c.Header.Length, cells.Count == 0 ? 0 : cells.Max(row => row[i].Length))).ToArray(),
                    console.Tables.Profile.Width);
                var table = new Table { Border = TableBorder.Rounded, Title = new TableTitle(Markup.Escape(title)) };
                // Ids, numbers and times are read whole: a column never wraps; columns are left out instead.
                foreach (var i in kept)
                    table.AddColumn(new TableColumn(Markup.Escape(columns[i].Header)) { NoWrap = true });
                foreach (var row in cells)
                    table.AddRow(kept.Select(i => Markup.Escape(row[i])).ToArray());
                console.Tables.Write(table);
                console.Out.WriteLine(Counted.Of(records.Count, "row"));
                if (kept.Count < columns.Count)
                    console.Info($"left out to fit {console.Tables.Profile.Width} columns: {string.Join(", ", Enumerable.Range(0, columns.Count).Except(kept).Select(i => columns[i].Header))} (--format csv or json has every column)");
                break;
        }
    }

    /// <summary>
    /// The columns (by index) that fit <paramref name="width"/> characters: the last ones are left out first (callers list
    /// columns by value, most first), and the first column always stays.
    /// </summary>
    internal static List<int> Fit(int[] widths, int width)
    {
        var kept = Enumerable.Range(0, widths.Length).ToList();
        // A rounded Spectre table: one border line plus a space either side of every cell.
        static int Total(IEnumerable<int> w) => w.Sum(x => x + 3) + 1;
        while (kept.Count > 1 && Total(kept.Select(i => widths[i])) > width)
            kept.RemoveAt(kept.Count - 1);
        return kept;
    }

    /// <summary>A probability column: six decimals, as the output files and JSON print it (never 0.376 beside 1).</summary>
    public static string? Probability(double? value) => value is { } p ? PredictionWriter.FormatProbability(p) : null;

    /// <summary>A percentage column (top-1 %, ECE %): two decimals.</summary>
    public static string? Percent(double? value) => value?.ToString("F2", CultureInfo.InvariantCulture);

    public static string Text(object? value) => value switch
    {
        null => "",
        double d => d.ToString("0.####", CultureInfo.InvariantCulture),
        float f => f.ToString("0.####", CultureInfo.InvariantCulture),
        DateTimeOffset t => t.ToString("yyyy-MM-dd HH:mm:ss", CultureInfo.InvariantCulture),
        IFormattable f => f.ToString(null, CultureInfo.InvariantCulture),
        _ => value.ToString() ?? "",
    };
}
