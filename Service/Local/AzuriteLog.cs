namespace ConvNeXt.Batch.Service.Local;

/// <summary>Azurite's output: appended to its log file when there is one, the last lines kept for the error of a failed start.</summary>
internal sealed class AzuriteLog : IDisposable
{
    private const int TailLines = 20;
    private StreamWriter? _file;
    private readonly Queue<string> _tail = new();

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
            _tail.Enqueue(line);
            if (_tail.Count > TailLines)
                _tail.Dequeue();
            _file?.WriteLine(line);
        }
    }

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
