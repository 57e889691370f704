using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Logging.Console;
using Microsoft.Extensions.Options;

namespace ConvNeXt.Batch.Functions.Handler;

/// <summary>
/// One line per log entry on the process's console, which the Functions host captures from the
/// custom handler (and Container Apps keeps in ContainerAppConsoleLogs). The host drops the
/// response <c>Logs</c> of a failed invocation and files every one of them at Information, so this
/// line carries the real level itself; scopes print as <c>key=value</c> pairs (the invocation id,
/// function, run and chunk) instead of their type name, and the trace and span ids join them.
/// <code>2026-11-23T22:10:04.123Z warn ConvNeXt.Batch.Functions.Invocations InvocationId=… FunctionName=ScoreImages TraceId=… | message</code>
/// </summary>
public sealed class KeyValueConsoleFormatter() : ConsoleFormatter(FormatterName)
{
    public const string FormatterName = "keyvalue";

    public override void Write<TState>(in LogEntry<TState> logEntry, IExternalScopeProvider? scopeProvider, TextWriter textWriter)
    {
        var message = logEntry.Formatter?.Invoke(logEntry.State, logEntry.Exception);
        if (message is null && logEntry.Exception is null)
            return;
        var line = new System.Text.StringBuilder(256);
        line.Append(DateTimeOffset.UtcNow.ToString("yyyy-MM-ddTHH:mm:ss.fffZ", System.Globalization.CultureInfo.InvariantCulture));
        line.Append(' ').Append(Level(logEntry.LogLevel)).Append(' ').Append(logEntry.Category);
        scopeProvider?.ForEachScope((scope, builder) => AppendScope(builder, scope), line);
        if (System.Diagnostics.Activity.Current is { } activity)
            line.Append(" TraceId=").Append(activity.TraceId.ToHexString()).Append(" SpanId=").Append(activity.SpanId.ToHexString());
        line.Append(" | ").Append(OneLine(message));
        if (logEntry.Exception is { } exception)
            line.Append(" | ").Append(exception.GetType().FullName).Append(": ").Append(OneLine(exception.Message));
        textWriter.WriteLine(line.ToString());
    }

    public static string Level(LogLevel level) => level switch
    {
        LogLevel.Trace => "trce",
        LogLevel.Debug => "dbug",
        LogLevel.Information => "info",
        LogLevel.Warning => "warn",
        LogLevel.Error => "fail",
        LogLevel.Critical => "crit",
        _ => "none",
    };

    private static void AppendScope(System.Text.StringBuilder line, object? scope)
    {
        switch (scope)
        {
            case null:
                return;
            case IEnumerable<KeyValuePair<string, object?>> pairs:
                foreach (var (key, value) in pairs)
                    if (key != "{OriginalFormat}")
                        line.Append(' ').Append(key).Append('=').Append(Quote(Convert.ToString(value, System.Globalization.CultureInfo.InvariantCulture)));
                return;
            default:
                line.Append(" scope=").Append(Quote(scope.ToString()));
                return;
        }
    }

    /// <summary>Values with spaces, quotes or '=' are quoted, so the line splits back into pairs.</summary>
    private static string Quote(string? value)
    {
        if (string.IsNullOrEmpty(value))
            return "\"\"";
        value = OneLine(value);
        return value.AsSpan().IndexOfAny(" \"=|\t") >= 0 ? "\"" + value.Replace("\"", "\\\"") + "\"" : value;
    }

    private static string OneLine(string? text) => (text ?? "").Replace("\r", "").Replace('\n', ' ');
}
