namespace ConvNeXt.Batch.Service.Services;

/// <summary>
/// This worker could not score the images now (the device out of memory or faulted, decoding timed out under load): not a
/// property of the images, so the invocation fails and the chunk is redelivered.
/// </summary>
public sealed class InferenceUnavailableException(string message) : Exception(message);
