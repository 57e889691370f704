using System.Text.RegularExpressions;
using ConvNeXt.Batch.Scoring.Evaluation;
using OxyPlot;
using OxyPlot.Annotations;
using OxyPlot.Axes;
using OxyPlot.Legends;
using OxyPlot.Series;

namespace ConvNeXt.Batch.Service.Reports;

/// <summary>One bar of a bar chart.</summary>
public sealed record ChartBar(string Label, double Value);

/// <summary>A run on the history chart: when, the measured fraction and its 95 % interval, whether it is flagged.</summary>
public sealed record HistoryPoint(DateTimeOffset At, ProportionInterval Value, bool Flagged);

/// <summary>One model's series on the history chart, with its published accuracy (fraction) when known.</summary>
public sealed record HistorySeries(string Name, IReadOnlyList<HistoryPoint> Points, double? Published);

/// <summary>
/// The report charts, drawn with OxyPlot and exported as inline SVG (server-side; the pages load no script).
/// Text is measured with OxyPlot's built-in PDF font metrics, so no system font or native library is needed.
/// </summary>
public static partial class ReportCharts
{
    private static readonly OxyColor Right = OxyColor.FromRgb(0x2e, 0x7d, 0x32);
    private static readonly OxyColor Wrong = OxyColor.FromRgb(0xc6, 0x28, 0x28);
    private static readonly OxyColor Neutral = OxyColor.FromRgb(0x15, 0x65, 0xc0);
    private static readonly OxyColor[] Palette =
        [Neutral, OxyColor.FromRgb(0xef, 0x6c, 0x00), OxyColor.FromRgb(0x6a, 0x1b, 0x9a), OxyColor.FromRgb(0x00, 0x83, 0x8f), OxyColor.FromRgb(0x5d, 0x40, 0x37)];

    /// <summary>Horizontal bars in the given order, top to bottom (values are fractions, shown in %).</summary>
    public static string PerClassAccuracy(IReadOnlyList<ChartBar> classes, string title)
    {
        var model = NewModel(title);
        // Label width measured by OxyPlot's font metrics can fall short of the browser's font: reserve the room.
        model.PlotMargins = new OxyThickness(230, double.NaN, 30, double.NaN);
        var categories = new CategoryAxis { Position = AxisPosition.Left, StartPosition = 1, EndPosition = 0, GapWidth = 0.3, FontSize = 10 };
        categories.Labels.AddRange(classes.Select(c => Shorten(c.Label, 34)));
        model.Axes.Add(categories);
        model.Axes.Add(new LinearAxis { Position = AxisPosition.Bottom, Minimum = 0, Maximum = 100, Title = "top-1 accuracy (%)", MajorGridlineStyle = LineStyle.Dot });
        var bars = new BarSeries { FillColor = Neutral, LabelFormatString = "{0:0.#}", FontSize = 9 };
        bars.Items.AddRange(classes.Select(c => new BarItem(c.Value * 100)));
        model.Series.Add(bars);
        return Export(model, "per-class", 820, Math.Max(160, 60 + 17 * classes.Count));
    }

    /// <summary>Counts per category as horizontal bars (errors by reason).</summary>
    public static string Counts(IReadOnlyList<ChartBar> bars, string title, string axisTitle, string id)
    {
        var model = NewModel(title);
        model.PlotMargins = new OxyThickness(Math.Min(260, 20 + 7.5 * bars.Select(b => b.Label.Length).DefaultIfEmpty(0).Max()), double.NaN, 30, double.NaN);
        var categories = new CategoryAxis { Position = AxisPosition.Left, StartPosition = 1, EndPosition = 0, GapWidth = 0.4 };
        categories.Labels.AddRange(bars.Select(b => b.Label));
        model.Axes.Add(categories);
        model.Axes.Add(new LinearAxis { Position = AxisPosition.Bottom, Minimum = 0, MinimumRange = 1, Title = axisTitle, MajorGridlineStyle = LineStyle.Dot });
        var series = new BarSeries { FillColor = Wrong, LabelFormatString = "{0}" };
        series.Items.AddRange(bars.Select(b => new BarItem(b.Value)));
        model.Series.Add(series);
        return Export(model, id, 820, Math.Max(140, 70 + 26 * bars.Count));
    }

    /// <summary>How many images fell in each top-1 confidence bin, right and wrong stacked.</summary>
    public static string ConfidenceHistogram(IReadOnlyList<CalibrationBin> bins)
    {
        var model = NewModel("Top-1 confidence");
        model.Axes.Add(new LinearAxis { Position = AxisPosition.Bottom, Minimum = 0, Maximum = 1, MajorStep = 0.2, Title = "top-1 probability" });
        model.Axes.Add(new LinearAxis { Position = AxisPosition.Left, Minimum = 0, MinimumRange = 1, Title = "images", MajorGridlineStyle = LineStyle.Dot });
        var right = new RectangleBarSeries { Title = "top-1 right", FillColor = Right, StrokeColor = OxyColors.White };
        var wrong = new RectangleBarSeries { Title = "top-1 wrong", FillColor = Wrong, StrokeColor = OxyColors.White };
        foreach (var bin in bins.Where(b => b.Images > 0))
        {
            right.Items.Add(new RectangleBarItem(bin.Lower, 0, bin.Upper, bin.Correct));
            wrong.Items.Add(new RectangleBarItem(bin.Lower, bin.Correct, bin.Upper, bin.Images));
        }
        model.Series.Add(right);
        model.Series.Add(wrong);
        model.Legends.Add(OutsideLegend());
        return Export(model, "confidence", 560, 360);
    }

    /// <summary>Accuracy against mean confidence per bin, the diagonal of perfect calibration and the gaps; ECE in the title.</summary>
    public static string ReliabilityDiagram(IReadOnlyList<CalibrationBin> bins, double? ece)
    {
        var model = NewModel(ece is { } e ? FormattableString.Invariant($"Reliability (ECE {e * 100:0.00} %)") : "Reliability");
        model.Axes.Add(new LinearAxis { Position = AxisPosition.Bottom, Minimum = 0, Maximum = 1, MajorStep = 0.2, Title = "top-1 probability" });
        model.Axes.Add(new LinearAxis { Position = AxisPosition.Left, Minimum = 0, Maximum = 1, MajorStep = 0.2, Title = "accuracy", MajorGridlineStyle = LineStyle.Dot });
        // The gap is drawn first: where a bin is over-confident it shows above the bar, where under-confident the
        // bar covers it and the confidence marker above the bar shows the difference.
        var gap = new RectangleBarSeries { Title = "gap to confidence", FillColor = OxyColor.FromAColor(90, Wrong), StrokeColor = Wrong, StrokeThickness = 0.5 };
        var accuracy = new RectangleBarSeries { Title = "accuracy", FillColor = Neutral, StrokeColor = OxyColors.White };
        var confidence = new ScatterSeries { Title = "mean confidence", MarkerType = MarkerType.Diamond, MarkerSize = 4, MarkerFill = OxyColor.FromRgb(0xef, 0x6c, 0x00) };
        foreach (var bin in bins.Where(b => b.Images > 0))
        {
            gap.Items.Add(new RectangleBarItem(bin.Lower, Math.Min(bin.Accuracy, bin.MeanConfidence), bin.Upper, Math.Max(bin.Accuracy, bin.MeanConfidence)));
            accuracy.Items.Add(new RectangleBarItem(bin.Lower, 0, bin.Upper, bin.Accuracy));
            confidence.Points.Add(new ScatterPoint((bin.Lower + bin.Upper) / 2, bin.MeanConfidence));
        }
        model.Series.Add(gap);
        model.Series.Add(accuracy);
        model.Series.Add(confidence);
        var diagonal = new LineSeries { Title = "perfect calibration", Color = OxyColors.Gray, LineStyle = LineStyle.Dash };
        diagonal.Points.AddRange([new DataPoint(0, 0), new DataPoint(1, 1)]);
        model.Series.Add(diagonal);
        model.Legends.Add(OutsideLegend());
        return Export(model, "reliability", 560, 380);
    }

    /// <summary>Accuracy of every run over time, one series per model, 95 % intervals as whiskers, published accuracy as lines.</summary>
    public static string History(IReadOnlyList<HistorySeries> series, string title, string id)
    {
        var model = NewModel(title);
        var times = series.SelectMany(s => s.Points).Select(p => p.At.UtcDateTime).DefaultIfEmpty(DateTime.UtcNow).ToList();
        var span = Math.Max((times.Max() - times.Min()).TotalDays, 1.0 / 24);
        model.Axes.Add(new DateTimeAxis
        {
            Position = AxisPosition.Bottom, StringFormat = span > 2 ? "yyyy-MM-dd" : "MM-dd HH:mm",
            // Ticks no closer than the label's resolution, or one date is printed under several ticks.
            IntervalType = span > 2 ? DateTimeIntervalType.Days : DateTimeIntervalType.Minutes,
            MinimumMajorStep = span > 2 ? 1 : 1.0 / (24 * 60), MinimumMinorStep = span > 2 ? 1 : 1.0 / (24 * 60),
            Minimum = DateTimeAxis.ToDouble(times.Min()) - span * 0.05, Maximum = DateTimeAxis.ToDouble(times.Max()) + span * 0.05,
            MajorGridlineStyle = LineStyle.Dot,
        });
        var values = series.SelectMany(s => s.Points.SelectMany(p => new[] { p.Value.Lower, p.Value.Upper }))
            .Concat(series.Where(s => s.Published is not null).Select(s => s.Published!.Value)).DefaultIfEmpty(0.5).ToList();
        model.Axes.Add(new LinearAxis
        {
            Position = AxisPosition.Left, Title = "accuracy (%)", MajorGridlineStyle = LineStyle.Dot,
            Minimum = Math.Max(0, values.Min() * 100 - 3), Maximum = Math.Min(100, values.Max() * 100 + 3),
        });
        var flagged = new ScatterSeries { Title = "dropped beyond its interval", MarkerType = MarkerType.Diamond, MarkerSize = 7, MarkerFill = Wrong };
        for (var i = 0; i < series.Count; i++)
        {
            var color = Palette[i % Palette.Length];
            var line = new LineSeries { Title = series[i].Name, Color = color, MarkerType = MarkerType.Circle, MarkerSize = 3.5, MarkerFill = color };
            var whiskers = new LineSeries { Color = color, StrokeThickness = 1.2 };
            foreach (var point in series[i].Points.OrderBy(p => p.At))
            {
                var x = DateTimeAxis.ToDouble(point.At.UtcDateTime);
                line.Points.Add(new DataPoint(x, point.Value.Estimate * 100));
                whiskers.Points.AddRange([new DataPoint(x, point.Value.Lower * 100), new DataPoint(x, point.Value.Upper * 100), DataPoint.Undefined]);
                if (point.Flagged)
                    flagged.Points.Add(new ScatterPoint(x, point.Value.Estimate * 100));
            }
            model.Series.Add(whiskers);
            model.Series.Add(line);
            if (series[i].Published is { } published)
                model.Annotations.Add(new LineAnnotation
                {
                    Type = LineAnnotationType.Horizontal, Y = published * 100, Color = color, LineStyle = LineStyle.Dash,
                    Text = FormattableString.Invariant($"published {published * 100:0.00} %"), TextColor = color, FontSize = 10,
                });
        }
        if (flagged.Points.Count > 0)
            model.Series.Add(flagged);
        model.Legends.Add(OutsideLegend());
        return Export(model, id, 820, 400);
    }

    private static Legend OutsideLegend() => new()
    {
        LegendPlacement = LegendPlacement.Outside, LegendPosition = LegendPosition.BottomCenter, LegendOrientation = LegendOrientation.Horizontal,
        LegendItemSpacing = 24, LegendPadding = 6,
    };

    private static PlotModel NewModel(string title) => new()
    {
        Title = title, TitleFontSize = 13, TitleFontWeight = FontWeights.Bold, Background = OxyColors.White,
        DefaultFont = "Arial", DefaultFontSize = 11, PlotAreaBorderColor = OxyColor.FromRgb(0xbb, 0xbb, 0xbb),
    };

    /// <summary>
    /// SVG text for inline use. OxyPlot numbers its clip paths from 1 in every export; several charts on one page
    /// would share those ids (a browser resolves <c>url(#…)</c> to the first), so each chart's ids get its prefix.
    /// </summary>
    private static string Export(PlotModel model, string id, double width, double height)
    {
        var svg = SvgExporter.ExportToString(model, width, height, false, new BrowserTextMeasurer(width, height));
        svg = IdAttribute().Replace(svg, m => $"id=\"{id}-{m.Groups[1].Value}\"");
        svg = UrlReference().Replace(svg, m => $"url(#{id}-{m.Groups[1].Value})");
        var start = svg.IndexOf("<svg", StringComparison.Ordinal);
        return (start > 0 ? svg[start..] : svg).Replace("<svg ", $"<svg role=\"img\" aria-label=\"{System.Net.WebUtility.HtmlEncode(model.Title)}\" ", StringComparison.Ordinal);
    }

    private static string Shorten(string text, int length) => text.Length <= length ? text : text[..(length - 1)] + "…";

    [GeneratedRegex("id=\"([^\"]+)\"")]
    private static partial Regex IdAttribute();

    [GeneratedRegex(@"url\(#([^)]+)\)")]
    private static partial Regex UrlReference();
}

/// <summary>
/// OxyPlot's built-in (PDF) font metrics measure a font size as points, while the SVG draws it in CSS pixels:
/// text comes out 4/3 wider than measured, so labels and legends would overlap. Scaling the measurement back
/// keeps the layout right without a native font library.
/// </summary>
internal sealed class BrowserTextMeasurer(double width, double height) : PdfRenderContext(width, height, OxyColors.White)
{
    private const double PixelsPerPoint = 96.0 / 72.0;

    public override OxySize MeasureText(string text, string fontFamily, double fontSize, double fontWeight)
    {
        var size = base.MeasureText(text, fontFamily, fontSize, fontWeight);
        return new OxySize(size.Width * PixelsPerPoint, size.Height * PixelsPerPoint);
    }
}
