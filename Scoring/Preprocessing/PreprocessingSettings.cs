using System.Text.Json.Serialization;

namespace ConvNeXt.Batch.Scoring.Preprocessing;

public enum Interpolation { Bicubic, Bilinear, Nearest }

public enum ChannelOrder { Rgb, Bgr }

/// <summary>
/// How an image becomes the model's input tensor: resize the shorter side to <see cref="ResizeShorter"/>,
/// center-crop <see cref="CropHeight"/>×<see cref="CropWidth"/>, multiply 8-bit values by
/// <see cref="PixelScale"/>/255, subtract <see cref="Mean"/>, divide by <see cref="Std"/>
/// (both in the model's channel order), planar CHW.
/// </summary>
public sealed record PreprocessingSettings
{
    public required int ResizeShorter { get; init; }
    public required int CropHeight { get; init; }
    public required int CropWidth { get; init; }
    public Interpolation Interpolation { get; init; } = Interpolation.Bicubic;
    public ChannelOrder ChannelOrder { get; init; } = ChannelOrder.Rgb;

    /// <summary>1: pixels in [0,1]; 255: pixels in [0,255].</summary>
    public float PixelScale { get; init; } = 1f;

    [JsonPropertyName("mean")] public float[] Mean { get; init; } = [0.485f, 0.456f, 0.406f];
    [JsonPropertyName("std")] public float[] Std { get; init; } = [0.229f, 0.224f, 0.225f];

    /// <summary>timm / paper convention: shorter side to floor(size / crop_pct), then crop size×size.</summary>
    public static PreprocessingSettings FromCropPct(int size, double cropPct, Interpolation interpolation) => new()
    {
        ResizeShorter = (int)Math.Floor(size / cropPct),
        CropHeight = size,
        CropWidth = size,
        Interpolation = interpolation,
    };

    /// <summary>timm ConvNeXt evaluation: 224, crop_pct 0.875, bicubic, ImageNet mean/std.</summary>
    public static PreprocessingSettings Timm(int size = 224) => FromCropPct(size, 0.875, Interpolation.Bicubic);

    /// <summary>MindCV ConvNeXt evaluation: 224, crop_pct 0.95, bicubic.</summary>
    public static PreprocessingSettings MindCv(int size = 224) => FromCropPct(size, 0.95, Interpolation.Bicubic);

    /// <summary>torchvision ConvNeXt weights: resize 236, crop 224, bilinear.</summary>
    public static PreprocessingSettings Torchvision() => new()
    {
        ResizeShorter = 236, CropHeight = 224, CropWidth = 224, Interpolation = Interpolation.Bilinear,
    };

    /// <summary>Caffe convention (e.g. SqueezeNet 1.1): BGR, 0–255, minus per-channel mean, no std.</summary>
    public static PreprocessingSettings Caffe(int resize = 256, int crop = 224) => new()
    {
        ResizeShorter = resize, CropHeight = crop, CropWidth = crop,
        Interpolation = Interpolation.Bilinear,
        ChannelOrder = ChannelOrder.Bgr,
        PixelScale = 255f,
        Mean = [104f, 117f, 123f],
        Std = [1f, 1f, 1f],
    };

    public int TensorLength => 3 * CropHeight * CropWidth;
}
