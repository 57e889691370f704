namespace ConvNeXt.Batch.Service.Uploads;

/// <summary>What an upload did.</summary>
public sealed record UploadResult(int Uploaded, long Bytes);
