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
                var table = new Table { Border = TableBorder.Rounded, Title = new TableTitle(Markup.Escape(title)) };
                foreach (var column in columns)
                    table.AddColumn(Markup.Escape(column.Header));
                foreach (var record in records)
                    table.AddRow(columns.Select(c => Markup.Escape(Text(c.Value(record)))).ToArray());
                console.Tables.Write(table);
                console.Out.WriteLine($"{records.Count} row(s)");
                break;
        }
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
