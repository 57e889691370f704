namespace ConvNeXt.Batch.Service.Uploads;

/// <summary>How an <see cref="ImageUploader"/> uploads.</summary>
public sealed class ImageUploadOptions
{
    /// <summary>Blobs uploaded at once.</summary>
    public int Parallelism { get; init; } = 8;

    /// <summary>Replace blobs that already exist (as <c>azcopy --overwrite=true</c>, the default there too).</summary>
    public bool Overwrite { get; init; } = true;
}
