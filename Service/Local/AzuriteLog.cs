namespace ConvNeXt.Batch.Service.Local;

/// <summary>Azurite's output: appended to its log file when there is one, the last lines kept for the error of a failed start.</summary>
internal sealed partial class AzuriteLog : IDisposable
{
    private const int TailLines = 20;
    private StreamWriter? _file;
    private readonly Queue<string> _tail = new();
    private readonly HashSet<int> _announced = [];

    public AzuriteLog(string? path)
    {
        if (path is null)
            return;
        Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(path))!);
        _file = new StreamWriter(new FileStream(path, FileMode.Append, FileAccess.Write, FileShare.ReadWrite)) { AutoFlush = true };
    }

    public void Write(string? line)
    {
        if (line is null)
            return;
        lock (_tail)
        {
            if (Announcement().Match(line) is { Success: true } m && int.TryParse(m.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture, out var port))
                _announced.Add(port);
            _tail.Enqueue(line);
            if (_tail.Count > TailLines)
                _tail.Dequeue();
            _file?.WriteLine(line);
        }
    }

    /// <summary>
    /// Whether Azurite said it listens on <paramref name="port"/>. A connection alone does not tell: another process may
    /// hold the port while Azurite fails to bind it.
    /// </summary>
    public bool HasAnnounced(int port)
    {
        lock (_tail)
            return _announced.Contains(port);
    }

    // "Blob service is successfully listening at http://127.0.0.1:P" (azurite), "… successfully listens on http://…:P"
    // (azurite-blob, azurite-queue), "… successfully started on 127.0.0.1:P" (azurite-table).
    [System.Text.RegularExpressions.GeneratedRegex(@"successfully (?:listening at|listens on|started on) (?:https?://)?[^\s/]+:(\d+)")]
    private static partial System.Text.RegularExpressions.Regex Announcement();

    public string Tail()
    {
        lock (_tail)
            return string.Join(" | ", _tail.Where(l => l.Length > 0));
    }

    public void Dispose()
    {
        lock (_tail)
        {
            // Output that arrives after the kill goes to the tail only.
            _file?.Dispose();
            _file = null;
        }
    }
}
