using NetVips;
using SkiaSharp;

namespace ConvNeXt.Batch.Scoring.Preprocessing;

/// <summary>
/// Decodes the formats the bundled libvips has no loader for (BMP, ICO, WBMP) with Skia, and hands
/// the pixels back as a libvips image so the rest of the preprocessing is the same for every format.
/// </summary>
internal static class SkiaFallbackDecoder
{
    /// <summary>The decoded RGBA image, or null when Skia does not recognise the data either.</summary>
    /// <exception cref="ImageRejectedException">Too many pixels, or recognised but corrupt.</exception>
    public static Image? TryDecode(ReadOnlySpan<byte> data, string formatName, ImageLimits limits)
    {
        using var bytes = SKData.CreateCopy(data);
        using var codec = SKCodec.Create(bytes);
        if (codec is null)
            return null;
        var (width, height) = (codec.Info.Width, codec.Info.Height);
        var pixels = (long)width * height;
        if (pixels > limits.MaxPixels)
            throw new ImageRejectedException(ImageRejectionReason.TooManyPixels,
                $"the image is {width}×{height} ({pixels:N0} pixels); the limit is {limits.MaxPixels:N0}");
        if (width <= 0 || height <= 0)
            throw new ImageRejectedException(ImageRejectionReason.Undecodable, $"{formatName} data could not be decoded: {width}×{height}");

        // Straight (unpremultiplied) RGBA in the file's own colours: alpha is flattened later, and
        // colour management is skipped as for every other format.
        var target = new SKImageInfo(width, height, SKColorType.Rgba8888, SKAlphaType.Unpremul);
        var buffer = new byte[target.BytesSize64];
        SKCodecResult result;
        unsafe
        {
            fixed (byte* p = buffer)
                result = codec.GetPixels(target, (IntPtr)p);
        }
        if (result != SKCodecResult.Success)
            throw new ImageRejectedException(ImageRejectionReason.Undecodable, $"{formatName} data could not be decoded: {result}");
        using var rgba = Image.NewFromMemory(buffer, width, height, 4, Enums.BandFormat.Uchar);
        // Copy detaches the image from the managed buffer, which the GC may then reclaim.
        return rgba.Copy(interpretation: Enums.Interpretation.Srgb).CopyMemory();
    }
}
