using System.Globalization;

namespace ConvNeXt.Batch.Scoring.Inference;

/// <summary>
/// Where inference is asked to run: <c>cpu</c>, <c>cuda</c> (= <c>cuda:0</c>), <c>cuda:N</c>,
/// <c>gpu</c> as another name for <c>cuda:0</c>, or <c>auto</c>: CUDA device 0 when it loads, else
/// the CPU (case-insensitive). A named CUDA device is strict: if it cannot load, loading fails
/// (<see cref="ExecutionProviderException"/>) instead of running on the CPU unnoticed. The one parser
/// of device names, used by the library, the service settings and the command line.
/// </summary>
public readonly record struct InferenceDevice(bool IsCuda, int DeviceId, bool FallsBackToCpu = false)
{
    public static InferenceDevice Cpu => new(false, 0);

    public const string Accepted = "cpu, cuda, cuda:N, gpu or auto";

    public static bool TryParse(string? text, out InferenceDevice device)
    {
        var value = (text ?? "").Trim().ToLowerInvariant();
        device = Cpu;
        if (value is "" or "cpu")
            return true;
        if (value is "auto")
        {
            device = new InferenceDevice(true, 0, FallsBackToCpu: true);
            return true;
        }
        if (value is "cuda" or "gpu")
        {
            device = new InferenceDevice(true, 0);
            return true;
        }
        if (value.StartsWith("cuda:", StringComparison.Ordinal)
            && int.TryParse(value.AsSpan(5), NumberStyles.None, CultureInfo.InvariantCulture, out var id))
        {
            device = new InferenceDevice(true, id);
            return true;
        }
        return false;
    }

    /// <exception cref="ArgumentException">Not a device name.</exception>
    public static InferenceDevice Parse(string? text) =>
        TryParse(text, out var device) ? device
            : throw new ArgumentException($"unknown device '{text}': use {Accepted}", nameof(text));

    /// <summary><c>cpu</c> or <c>cuda:N</c>, the form <see cref="ImageClassifier.ExecutionProvider"/> reports.</summary>
    public override string ToString() => IsCuda ? $"cuda:{DeviceId}" : "cpu";
}
