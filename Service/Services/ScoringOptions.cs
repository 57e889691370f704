namespace ConvNeXt.Batch.Service.Services;

/// <summary>Batching and device settings (<c>Scoring</c> section).</summary>
public sealed class ScoringOptions
{
    public const string Section = "Scoring";

    public int BatchSize { get; set; } = 16;
    public int MaxWaitMilliseconds { get; set; } = 50;
    /// <summary><c>cpu</c>, <c>cuda</c> or <c>cuda:N</c> (falls back to CPU with a warning).</summary>
    public string Device { get; set; } = "cpu";
    /// <summary>0 = ONNX Runtime's default.</summary>
    public int IntraOpThreads { get; set; }
    /// <summary>0 = one per core.</summary>
    public int DecodeWorkers { get; set; }
    /// <summary>Blob downloads in flight at once.</summary>
    public int DownloadConcurrency { get; set; } = 8;
    /// <summary>Largest blob downloaded for scoring; bigger ones become <c>TooLarge</c> error rows without being read.</summary>
    public long MaxBlobBytes { get; set; } = 64L * 1024 * 1024;
    /// <summary>Skip blobs whose row already holds this blob version scored by this model (cheap redelivery).</summary>
    public bool SkipUnchanged { get; set; } = true;
}
