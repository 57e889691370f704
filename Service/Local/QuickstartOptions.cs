using ConvNeXt.Batch.Service.Storage;

namespace ConvNeXt.Batch.Service.Local;

/// <summary>How a <see cref="Quickstart"/> runs.</summary>
public sealed record QuickstartOptions
{
    /// <summary>Blobs per scoring call: a few batches, so that progress moves as ScoreImages invocations would.</summary>
    public int BlobsPerCall { get; init; } = 16;

    /// <summary>The drop zone the samples are uploaded to and scored from.</summary>
    public string DropZone { get; init; } = ContainerNames.Images;

    /// <summary>The container whose <see cref="Quickstart.SamplesPrefix"/> the validation run reads.</summary>
    public string ValidationContainer { get; init; } = ContainerNames.Validation;
}
