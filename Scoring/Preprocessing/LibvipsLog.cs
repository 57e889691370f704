using NetVips;

namespace ConvNeXt.Batch.Scoring.Preprocessing;

/// <summary>
/// Takes libvips' GLib log output (<c>VIPS-WARNING **: error in tile …</c>) off stderr. libvips
/// logs from its own worker threads, so a message cannot be tied to one image; the failure it
/// accompanies reaches that image's rejection reason through the operation's error. Hosts that
/// want the messages subscribe to <see cref="Message"/> and pass them to their logger.
/// </summary>
public static class LibvipsLog
{
    private static readonly Log.LogDelegate Handler = OnLog; // kept alive: native code holds it
    private static int _installed;
    private static long _count;

    /// <summary>Raised for each libvips warning or message (level, text), on a libvips thread.</summary>
    public static event Action<string, string>? Message;

    /// <summary>Messages received since start, delivered or not.</summary>
    public static long Count => Interlocked.Read(ref _count);

    /// <summary>Routes the "VIPS" log domain here; idempotent.</summary>
    public static void Install()
    {
        if (Interlocked.Exchange(ref _installed, 1) == 0)
            Log.SetLogHandler("VIPS",
                Enums.LogLevelFlags.Critical | Enums.LogLevelFlags.Warning | Enums.LogLevelFlags.Message
                | Enums.LogLevelFlags.Info | Enums.LogLevelFlags.Debug, Handler);
    }

    private static void OnLog(string domain, Enums.LogLevelFlags level, string message)
    {
        Interlocked.Increment(ref _count);
        var name = (level & Enums.LogLevelFlags.LevelMask) switch
        {
            Enums.LogLevelFlags.Critical => "critical",
            Enums.LogLevelFlags.Warning => "warning",
            Enums.LogLevelFlags.Message => "message",
            Enums.LogLevelFlags.Info => "info",
            _ => "debug",
        };
        try
        {
            Message?.Invoke(name, message);
        }
        catch
        {
            // A subscriber's failure must not unwind into native libvips code.
        }
    }
}
