using System.Buffers.Binary;
using ConvNeXt.Batch.Scoring.Preprocessing;
using NetVips;

namespace ConvNeXt.Batch.Scoring.Tests.Preprocessing;

/// <summary>Formats the bundled libvips cannot read, names for what nothing reads, and libvips' log.</summary>
public class ImageFormatTests
{
    private static readonly PreprocessingSettings Raw = new()
    {
        ResizeShorter = 24, CropHeight = 24, CropWidth = 24, Interpolation = Interpolation.Bilinear,
        PixelScale = 255f, Mean = [0f, 0f, 0f], Std = [1f, 1f, 1f],
    };

    /// <summary>24×24 RGB with a different value in every channel of every pixel.</summary>
    private static byte[] Pattern()
    {
        var rgb = new byte[24 * 24 * 3];
        for (var i = 0; i < 24 * 24; i++)
        {
            rgb[3 * i] = (byte)(i % 24 * 10);
            rgb[3 * i + 1] = (byte)(i / 24 * 10);
            rgb[3 * i + 2] = (byte)(i * 7 % 256);
        }
        return rgb;
    }

    private static byte[] Png(byte[] rgb)
    {
        using var image = Image.NewFromMemory(rgb, 24, 24, 3, Enums.BandFormat.Uchar);
        return image.Copy(interpretation: Enums.Interpretation.Srgb).WriteToBuffer(".png");
    }

    private static float[] Run(byte[] bytes)
    {
        var preprocessor = new ImagePreprocessor(Raw);
        var tensor = new float[preprocessor.TensorLength];
        preprocessor.Preprocess(bytes, tensor);
        return tensor;
    }

    private static ImageRejectedException Rejected(byte[] bytes) => Assert.Throws<ImageRejectedException>(() => Run(bytes));

    [Fact]
    public void Bmp_decodes_to_the_same_tensor_as_png()
    {
        var rgb = Pattern();
        var bmp = Bmp24(rgb, 24, 24);
        Assert.Null(Image.FindLoadBuffer(bmp)); // libvips alone cannot: the fallback is what reads it
        var tensor = Run(bmp);
        Assert.Equal(Run(Png(rgb)), tensor);
        Assert.Equal(10f * 5, tensor[5]);       // R of pixel (5, 0)
        Assert.Equal(10f * 3, tensor[576 + 3 * 24]); // G of pixel (0, 3)
    }

    [Fact]
    public void Ico_decodes_to_the_same_tensor_as_png()
    {
        var rgb = Pattern();
        var png = Png(rgb);
        // Vista-style icon: ICONDIR, one ICONDIRENTRY, the PNG as the image.
        var ico = new byte[6 + 16 + png.Length];
        BinaryPrimitives.WriteUInt16LittleEndian(ico.AsSpan(2), 1); // type: icon
        BinaryPrimitives.WriteUInt16LittleEndian(ico.AsSpan(4), 1); // one image
        ico[6] = 24;
        ico[7] = 24;
        BinaryPrimitives.WriteUInt16LittleEndian(ico.AsSpan(10), 1); // planes
        BinaryPrimitives.WriteUInt16LittleEndian(ico.AsSpan(12), 32); // bits per pixel
        BinaryPrimitives.WriteUInt32LittleEndian(ico.AsSpan(14), (uint)png.Length);
        BinaryPrimitives.WriteUInt32LittleEndian(ico.AsSpan(18), 22);
        png.CopyTo(ico, 22);
        Assert.Null(Image.FindLoadBuffer(ico));
        Assert.Equal(Run(png), Run(ico));
    }

    [Fact]
    public void Corrupt_bmp_is_undecodable_and_named()
    {
        var bmp = Bmp24(Pattern(), 24, 24);
        var rejected = Rejected(bmp[..80]); // header and a few pixels
        Assert.Equal(ImageRejectionReason.Undecodable, rejected.Reason);
        Assert.Contains("BMP", rejected.Message);
    }

    [Fact]
    public void A_bmp_decode_stops_at_the_decode_timeout_inside_the_fallback_decoder()
    {
        // Large enough that its rows take time; the deadline is checked between rows, not only after the whole decode.
        const int Side = 1500;
        var bmp = Bmp24(new byte[Side * Side * 3], Side, Side);
        var preprocessor = new ImagePreprocessor(Raw, new ImageLimits { DecodeTimeout = TimeSpan.FromTicks(1) });
        var rejected = Assert.Throws<ImageRejectedException>(() => preprocessor.Preprocess(bmp, new float[preprocessor.TensorLength]));
        Assert.Equal(ImageRejectionReason.Timeout, rejected.Reason);
        Assert.Equal("decoding took longer than 0 ms (1500×1500 BMP)", rejected.Message);
        Assert.Contains(nameof(SkiaFallbackDecoder), rejected.StackTrace);
    }

    [Fact]
    public void A_large_bottom_up_bmp_decodes_row_by_row_to_the_right_rows()
    {
        // Taller than one batch of rows, with each row's value its index: a row put in the wrong place would show.
        const int Width = 24, Height = 200;
        var rgb = new byte[Width * Height * 3];
        for (var y = 0; y < Height; y++)
            rgb.AsSpan(y * Width * 3, Width * 3).Fill((byte)y);
        var bmp = Bmp24(rgb, Width, Height);
        using var png = Image.NewFromMemory(rgb, Width, Height, 3, Enums.BandFormat.Uchar);
        Assert.Equal(Run(png.Copy(interpretation: Enums.Interpretation.Srgb).WriteToBuffer(".png")), Run(bmp));
    }

    [Fact]
    public void Bmp_header_claiming_too_many_pixels_is_rejected_before_decoding()
    {
        var bmp = Bmp24(new byte[4 * 4 * 3], 4, 4);
        BinaryPrimitives.WriteInt32LittleEndian(bmp.AsSpan(18), 20_000);
        BinaryPrimitives.WriteInt32LittleEndian(bmp.AsSpan(22), 20_000);
        var rejected = Rejected(bmp);
        Assert.Equal(ImageRejectionReason.TooManyPixels, rejected.Reason);
        Assert.Contains("20000×20000", rejected.Message);
    }

    [Theory]
    [InlineData("%PDF-1.7\n%âãÏÓ\n1 0 obj\n<< /Type /Catalog >>\nendobj\n", "PDF")]
    [InlineData("8BPS\0\u0001\0\0\0\0\0\0\0\u0003\0\0\0\u0010\0\0\0\u0010\0\u0008\0\u0003", "PSD")]
    [InlineData("<!DOCTYPE html><html><body>404</body></html>", "HTML")]
    [InlineData("PK\u0003\u0004\u0014\0\0\0\u0008\0", "ZIP archive")]
    public void Unreadable_formats_are_named_not_dumped_as_hex(string content, string format)
    {
        var bytes = System.Text.Encoding.Latin1.GetBytes(content);
        var rejected = Rejected(bytes);
        Assert.Equal(ImageRejectionReason.Unsupported, rejected.Reason);
        Assert.Equal($"{format} is not an image format this build can read", rejected.Message);
    }

    [Fact]
    public void Unknown_signature_still_shows_its_first_bytes()
    {
        var rejected = Rejected([0x13, 0x37, 0x42, 0x42, 1, 2, 3, 4, 5, 6, 7, 8]);
        Assert.Equal(ImageRejectionReason.Unsupported, rejected.Reason);
        Assert.Contains("unrecognised signature 1337424201020304", rejected.Message);
    }

    [Theory]
    [InlineData(new byte[] { 0, 0, 0, 0x18, (byte)'f', (byte)'t', (byte)'y', (byte)'p', (byte)'h', (byte)'e', (byte)'i', (byte)'c' }, "HEIC")]
    [InlineData(new byte[] { 0, 0, 0, 0x1C, (byte)'f', (byte)'t', (byte)'y', (byte)'p', (byte)'a', (byte)'v', (byte)'i', (byte)'f' }, "AVIF")]
    [InlineData(new byte[] { (byte)'I', (byte)'I', 42, 0, 8, 0, 0, 0 }, "TIFF")]
    [InlineData(new byte[] { (byte)'B', (byte)'M', 0, 0, 0, 0, 0, 0, 0, 0, 54, 0, 0, 0, 40, 0, 0, 0 }, "BMP")]
    [InlineData(new byte[] { 0xFF, 0x0A, 0xFA, 0x7F }, "JPEG XL")]
    public void Signatures_are_named(byte[] bytes, string format) => Assert.Equal(format, EncodedFormat.Detect(bytes));

    [Fact]
    public void Libvips_warnings_go_to_the_log_handler_not_stderr()
    {
        Repository.RequireShared();
        var jpeg = File.ReadAllBytes(Directory.GetFiles(Repository.ImagenetSamples, "n01443537_*").Single());
        var messages = new List<string>();
        void Collect(string level, string message)
        {
            lock (messages)
                messages.Add($"{level}: {message}");
        }
        LibvipsLog.Message += Collect;
        try
        {
            var before = LibvipsLog.Count;
            // A JPEG cut in half: libvips warns from its worker threads ("error in tile …",
            // "premature end of JPEG file") while the decode fails.
            var rejected = Rejected(jpeg[..(jpeg.Length / 2)]);
            Assert.Equal(ImageRejectionReason.Undecodable, rejected.Reason);
            Assert.Contains("JPEG", rejected.Message);
            Assert.True(LibvipsLog.Count > before, "libvips logged nothing through the handler");
            lock (messages)
                Assert.Contains(messages, m => m.StartsWith("warning: ", StringComparison.Ordinal));
        }
        finally
        {
            LibvipsLog.Message -= Collect;
        }
    }

    /// <summary>Bottom-up 24-bit BMP (BITMAPINFOHEADER), rows padded to 4 bytes.</summary>
    private static byte[] Bmp24(byte[] rgb, int width, int height)
    {
        var stride = (width * 3 + 3) & ~3;
        var bmp = new byte[54 + stride * height];
        bmp[0] = (byte)'B';
        bmp[1] = (byte)'M';
        BinaryPrimitives.WriteInt32LittleEndian(bmp.AsSpan(2), bmp.Length);
        BinaryPrimitives.WriteInt32LittleEndian(bmp.AsSpan(10), 54);
        BinaryPrimitives.WriteInt32LittleEndian(bmp.AsSpan(14), 40);
        BinaryPrimitives.WriteInt32LittleEndian(bmp.AsSpan(18), width);
        BinaryPrimitives.WriteInt32LittleEndian(bmp.AsSpan(22), height);
        BinaryPrimitives.WriteInt16LittleEndian(bmp.AsSpan(26), 1);
        BinaryPrimitives.WriteInt16LittleEndian(bmp.AsSpan(28), 24);
        BinaryPrimitives.WriteInt32LittleEndian(bmp.AsSpan(34), stride * height);
        for (var y = 0; y < height; y++)
            for (var x = 0; x < width; x++)
            {
                var src = (y * width + x) * 3;
                var dst = 54 + (height - 1 - y) * stride + x * 3;
                bmp[dst] = rgb[src + 2];
                bmp[dst + 1] = rgb[src + 1];
                bmp[dst + 2] = rgb[src];
            }
        return bmp;
    }
}
