using NetVips;
using SkiaSharp;

namespace ConvNeXt.Batch.Scoring.Preprocessing;

/// <summary>
/// Decodes the formats the bundled libvips has no loader for (BMP, ICO, WBMP) with Skia, and hands
/// the pixels back as a libvips image so the rest of the preprocessing is the same for every format.
/// </summary>
internal static class SkiaFallbackDecoder
{
    /// <summary>Rows decoded between two looks at the clock.</summary>
    private const int RowsPerCheck = 64;

    /// <summary>The decoded RGBA image, or null when Skia does not recognise the data either.</summary>
    /// <param name="started">When decoding began (<see cref="System.Diagnostics.Stopwatch.GetTimestamp"/>): the same
    /// <see cref="ImageLimits.DecodeTimeout"/> as libvips' decoders bounds this one, checked while rows are decoded.</param>
    /// <exception cref="ImageRejectedException">Too many pixels, recognised but corrupt, or past the decode timeout.</exception>
    public static Image? TryDecode(ReadOnlySpan<byte> data, string formatName, ImageLimits limits, long started)
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
        void CheckClock()
        {
            if (limits.DecodeTimeout != Timeout.InfiniteTimeSpan && System.Diagnostics.Stopwatch.GetElapsedTime(started) > limits.DecodeTimeout)
                throw new ImageRejectedException(ImageRejectionReason.Timeout,
                    $"decoding took longer than {limits.DecodeTimeout.TotalMilliseconds:N0} ms ({width}×{height} {formatName})");
        }
        CheckClock();
        unsafe
        {
            fixed (byte* p = buffer)
            {
                // Row by row where the codec allows it (BMP), so a slow decode stops at its deadline, not after it.
                if (codec.StartScanlineDecode(target) == SKCodecResult.Success)
                {
                    var rowBytes = target.RowBytes;
                    for (var row = 0; row < height; row += RowsPerCheck)
                    {
                        var count = Math.Min(RowsPerCheck, height - row);
                        // Bottom-up files deliver their last row first: the codec says where each decoded row goes.
                        var decoded = 0;
                        for (var i = 0; i < count; i++)
                        {
                            var destination = codec.GetOutputScanline(row + i);
                            decoded += codec.GetScanlines((IntPtr)(p + (long)destination * rowBytes), 1, rowBytes);
                        }
                        if (decoded < count)
                            throw new ImageRejectedException(ImageRejectionReason.Undecodable, $"{formatName} data could not be decoded: {SKCodecResult.IncompleteInput}");
                        CheckClock();
                    }
                }
                else
                {
                    var result = codec.GetPixels(target, (IntPtr)p);
                    if (result != SKCodecResult.Success)
                        throw new ImageRejectedException(ImageRejectionReason.Undecodable, $"{formatName} data could not be decoded: {result}");
                    CheckClock();
                }
            }
        }
        using var rgba = Image.NewFromMemory(buffer, width, height, 4, Enums.BandFormat.Uchar);
        // Copy detaches the image from the managed buffer, which the GC may then reclaim.
        return rgba.Copy(interpretation: Enums.Interpretation.Srgb).CopyMemory();
    }
}
