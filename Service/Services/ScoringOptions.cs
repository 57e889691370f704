namespace ConvNeXt.Batch.Service.Services;

/// <summary>Batching and device settings (<c>Scoring</c> section).</summary>
public sealed class ScoringOptions
{
    public const string Section = "Scoring";

    public int BatchSize { get; set; } = 16;
    public int MaxWaitMilliseconds { get; set; } = 50;
    /// <summary><c>cpu</c>, <c>cuda</c>, <c>cuda:N</c> (strict: the model fails to load without CUDA) or <c>auto</c> (CUDA, else CPU with a warning).</summary>
    public string Device { get; set; } = "cpu";
    /// <summary>0 = ONNX Runtime's default.</summary>
    public int IntraOpThreads { get; set; }
    /// <summary>0 = one per core.</summary>
    public int DecodeWorkers { get; set; }
    /// <summary>Longest time decoding and resizing one image may take, in milliseconds (a longer one is a <c>Timeout</c>).</summary>
    public int DecodeTimeoutMilliseconds { get; set; } = (int)Scoring.Preprocessing.ImageLimits.Default.DecodeTimeout.TotalMilliseconds;
    /// <summary>Blob downloads in flight at once.</summary>
    public int DownloadConcurrency { get; set; } = 8;
    /// <summary>Largest blob downloaded for scoring; bigger ones become <c>TooLarge</c> error rows without being read.</summary>
    public long MaxBlobBytes { get; set; } = 64L * 1024 * 1024;
    /// <summary>
    /// Most image bytes one ScoreImages invocation downloads. Batch locks are not renewed, so the
    /// messages of a batch whose blobs add up to more are left for the next delivery (abandoned, not
    /// failed) and the invocation ends inside its lock (README.md, "Message locks"). 0 = no limit.
    /// </summary>
    public long MaxBatchBytes { get; set; }
    /// <summary>Messages in one ScoreImages batch: host.json's <c>maxMessageBatchSize</c> (each message names one image).</summary>
    public int MaxBatchMessages { get; set; } = 32;

    /// <summary>
    /// The largest image read for scoring: <see cref="MaxBlobBytes"/>, lowered to an equal share of
    /// <see cref="MaxBatchBytes"/> per message when that is set, so a full batch of the largest images
    /// allowed downloads at most <see cref="MaxBatchBytes"/>. The same limit for events and validation
    /// chunks: an image gets the same answer whichever way it is scored.
    /// </summary>
    public long EffectiveMaxBlobBytes => MaxBatchBytes > 0
        ? Math.Min(MaxBlobBytes, MaxBatchBytes / Math.Max(1, MaxBatchMessages))
        : MaxBlobBytes;
    /// <summary>Seconds a scoring invocation waits before failing when the model cannot load (0 = fail at once).</summary>
    public int LoadFailureDelaySeconds { get; set; }
    /// <summary>
    /// A span per image (download, decode) besides the per-batch ones. Off by default: with a batch of 32
    /// it multiplies the trace volume (and the Application Insights bill) by about 30.
    /// </summary>
    public bool ImageSpans { get; set; }
    /// <summary>Skip blobs whose row already holds this blob version scored by this model (cheap redelivery).</summary>
    public bool SkipUnchanged { get; set; } = true;
}
