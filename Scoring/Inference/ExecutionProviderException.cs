namespace ConvNeXt.Batch.Scoring.Inference;

/// <summary>
/// The execution provider asked for (CUDA) cannot start on this machine: a missing driver or
/// library, or no such device. Transient for the service (another replica, or this one after a
/// restart, may have the GPU); never answered by quietly running on the CPU unless the device is
/// <c>auto</c>.
/// </summary>
public sealed class ExecutionProviderException : Exception
{
    public ExecutionProviderException(string message, Exception? inner = null) : base(message, inner) { }
}
