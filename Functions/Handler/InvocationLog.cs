using Microsoft.Extensions.Logging;

namespace ConvNeXt.Batch.Functions.Handler;

/// <summary>
/// Log lines of one invocation: written to the process log (inside the invocation's scope) and
/// returned to the host in the response's <c>Logs</c> array, where they join the host's own
/// invocation log (and Application Insights) under the same invocation id.
/// </summary>
public sealed class InvocationLog(ILogger logger)
{
    private readonly List<string> _lines = [];

    public IReadOnlyList<string> Lines { get { lock (_lines) return _lines.ToList(); } }

    public void Information(string message)
    {
        logger.LogInformation("{Message}", message);
        Add("Information", message);
    }

    public void Warning(string message)
    {
        logger.LogWarning("{Message}", message);
        Add("Warning", message);
    }

    public void Error(Exception? exception, string message)
    {
        logger.LogError(exception, "{Message}", message);
        Add("Error", exception is null ? message : $"{message}: {exception.GetType().Name}: {exception.Message}");
    }

    private void Add(string level, string message)
    {
        lock (_lines)
            _lines.Add($"[{level}] {message}");
    }
}
