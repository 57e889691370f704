using ConvNeXt.Batch.Service.Local;
using System.Diagnostics;
using System.Globalization;

namespace ConvNeXt.Batch.Cli.Output;

/// <summary>
/// A one-line progress bar (count, rate, ETA) redrawn in place on standard error, at most four times
/// a second. Disabled (every call a no-op) when standard error is not a terminal or with --quiet,
/// so logs and pipes never see control characters. As an <see cref="IProgress{T}"/> it counts synchronously
/// (unlike <see cref="Progress{T}"/>, whose posted callbacks can land after the line's final draw).
/// </summary>
public sealed class ProgressLine : IDisposable, IProgress<long>
{
    private readonly TextWriter? _writer;
    private readonly string _unit;
    private readonly string _label;
    private readonly Stopwatch _clock = Stopwatch.StartNew();
    private readonly Lock _gate = new();
    private long _lastDraw = -1000;
    private long? _total;
    private long _done;
    private long _errors;
    private int _width;

    /// <param name="label">What is counted, when a command has several phases (<c>uploading</c>, <c>scoring</c>).</param>
    public ProgressLine(TextWriter writer, bool enabled, string unit, long? total = null, string? label = null)
    {
        _writer = enabled ? writer : null;
        _unit = unit;
        _total = total;
        _label = label is null ? "" : label + " ";
    }

    public bool Enabled => _writer is not null;

    public TimeSpan Elapsed => _clock.Elapsed;

    public void SetTotal(long? total) => _total = total;

    void IProgress<long>.Report(long done) => Report(done);

    /// <summary>Counts that start at <paramref name="offset"/> (a second phase drawn on the same line).</summary>
    public IProgress<long> From(long offset) => new Offset(this, offset);

    public void Report(long done, long errors = 0)
    {
        // Parallel workers may report out of order: the line never goes back.
        _done = Math.Max(_done, done);
        _errors = Math.Max(_errors, errors);
        if (_writer is null)
            return;
        var now = _clock.ElapsedMilliseconds;
        if (now - Interlocked.Read(ref _lastDraw) < 250)
            return;
        Draw(now);
    }

    private void Draw(long now)
    {
        lock (_gate)
        {
            _lastDraw = now;
            var seconds = Math.Max(now / 1000.0, 1e-3);
            var rate = _done / seconds;
            var line = _label + (_total is { } total and > 0
                ? string.Create(CultureInfo.InvariantCulture,
                    $"{Bar(_done / (double)total)} {_done}/{total} {_unit}  {rate:F1} {_unit}/s  ETA {Eta(total - _done, rate)}")
                : string.Create(CultureInfo.InvariantCulture, $"{_done} {_unit}  {rate:F1} {_unit}/s"));
            if (_errors > 0)
                line += string.Create(CultureInfo.InvariantCulture, $"  {Counted.Of(_errors, "error")}");
            var padded = line.PadRight(_width);
            _width = line.Length;
            _writer!.Write("\r" + padded);
            _writer.Flush();
        }
    }

    private static string Bar(double fraction)
    {
        const int width = 24;
        var filled = (int)Math.Round(Math.Clamp(fraction, 0, 1) * width);
        return "[" + new string('#', filled) + new string('-', width - filled) + "]";
    }

    private static string Eta(long remaining, double rate) =>
        rate <= 0 ? "--:--" : TimeSpan.FromSeconds(Math.Ceiling(remaining / rate)).ToString(@"hh\:mm\:ss", CultureInfo.InvariantCulture);

    public void Dispose()
    {
        if (_writer is null)
            return;
        Draw(_clock.ElapsedMilliseconds);
        lock (_gate)
        {
            _writer.WriteLine();
            _writer.Flush();
        }
    }

    private sealed class Offset(ProgressLine line, long offset) : IProgress<long>
    {
        public void Report(long value) => line.Report(offset + value);
    }
}
