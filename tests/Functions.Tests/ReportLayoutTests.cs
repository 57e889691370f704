using System.Text.RegularExpressions;
using ProportionInterval = ConvNeXt.Batch.Scoring.Evaluation.ProportionInterval;
using ConvNeXt.Batch.Service.Queries;
using ConvNeXt.Batch.Service.Reports;

namespace ConvNeXt.Batch.Functions.Tests;

/// <summary>Report pages as read: charts only where they say something, names that wrap between tokens, a time axis without repeats.</summary>
public class ReportLayoutTests
{
    private static List<ClassAccuracy> Classes(int count, int imagesEach) =>
        [.. Enumerable.Range(0, count).Select(i => new ClassAccuracy(i, $"n{i:D8}", $"class {i}", imagesEach, i % imagesEach, imagesEach))];

    [Fact]
    public void The_worst_classes_chart_needs_classes_with_several_images()
    {
        Assert.True(ValidationRunPage.PerClassChartIsMeaningful(Classes(1000, 50)));   // ImageNet val
        Assert.False(ValidationRunPage.PerClassChartIsMeaningful(Classes(1000, 1)));   // a 1,000-image sample
        Assert.False(ValidationRunPage.PerClassChartIsMeaningful(Classes(0, 0)));
    }

    [Fact]
    public void Names_wrap_only_after_separators()
    {
        Assert.Equal("val/<wbr>ILSVRC2012_<wbr>val_<wbr>00000001.<wbr>JPEG", HtmlReport.Breakable("val/ILSVRC2012_val_00000001.JPEG"));
        Assert.Equal("a&lt;b", HtmlReport.Breakable("a<b"));
    }

    [Theory]
    [InlineData(3)]
    [InlineData(10)]
    [InlineData(40)]
    public void The_history_time_axis_never_repeats_a_label(int days)
    {
        var start = new DateTimeOffset(2026, 11, 1, 0, 0, 0, TimeSpan.Zero);
        var points = new List<HistoryPoint>
        {
            new(start, ProportionInterval.Wilson(80, 100), false),
            new(start.AddDays(days), ProportionInterval.Wilson(82, 100), false),
        };
        var svg = ReportCharts.History([new HistorySeries("m", points, null)], "top-1 accuracy over time", "t");
        var labels = Regex.Matches(svg, @">(\d{4}-\d{2}-\d{2})<").Select(m => m.Groups[1].Value).ToList();
        Assert.True(labels.Count >= 2, svg.Length.ToString(System.Globalization.CultureInfo.InvariantCulture));
        Assert.Equal(labels.Distinct().Count(), labels.Count);
    }
}
