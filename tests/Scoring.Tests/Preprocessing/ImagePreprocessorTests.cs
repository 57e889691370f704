using System.IO.Compression;
using System.Buffers.Binary;
using ConvNeXt.Batch.Scoring.Preprocessing;
using NetVips;

namespace ConvNeXt.Batch.Scoring.Tests.Preprocessing;

public class ImagePreprocessorTests
{
    /// <summary>Pixel values 0..255 unchanged, RGB, no resize when the image already has the crop size.</summary>
    private static PreprocessingSettings Raw(int resize, int crop, Interpolation interpolation = Interpolation.Bilinear) => new()
    {
        ResizeShorter = resize, CropHeight = crop, CropWidth = crop, Interpolation = interpolation,
        PixelScale = 255f, Mean = [0f, 0f, 0f], Std = [1f, 1f, 1f],
    };

    private static string Sample(string wnid) =>
        Directory.GetFiles(Repository.ImagenetSamples, wnid + "_*").Single();

    private static float[] Run(ImagePreprocessor preprocessor, ReadOnlySpan<byte> bytes)
    {
        var tensor = new float[preprocessor.TensorLength];
        preprocessor.Preprocess(bytes, tensor);
        return tensor;
    }

    private static double MeanAbsDifference(float[] a, float[] b) => a.Zip(b, (x, y) => Math.Abs(x - y)).Average();

    private static ImageRejectedException Rejected(ImagePreprocessor preprocessor, byte[] bytes) =>
        Assert.Throws<ImageRejectedException>(() => Run(preprocessor, bytes));

    [Fact]
    public void Channel_order_scale_mean_and_std_are_applied_per_channel()
    {
        using var solid = Image.Black(8, 8).NewFromImage(10, 20, 30).Cast(Enums.BandFormat.Uchar);
        var png = solid.WriteToBuffer(".png");

        var bgr = Run(new ImagePreprocessor(PreprocessingSettings.Caffe(8, 8)), png);
        Assert.All(bgr[..64], v => Assert.Equal(30f - 104f, v));
        Assert.All(bgr[64..128], v => Assert.Equal(20f - 117f, v));
        Assert.All(bgr[128..], v => Assert.Equal(10f - 123f, v));

        var timm = Run(new ImagePreprocessor(PreprocessingSettings.Timm(8) with { ResizeShorter = 8 }), png);
        Assert.Equal((10 / 255f - 0.485f) / 0.229f, timm[0], 5);
        Assert.Equal((20 / 255f - 0.456f) / 0.224f, timm[64], 5);
        Assert.Equal((30 / 255f - 0.406f) / 0.225f, timm[128], 5);
    }

    [Fact]
    public void Center_crop_offset_follows_torchvision_rounding()
    {
        // Column x has value x, row y has value y: the crop's first pixel tells its offset.
        using var x = Image.Xyz(301, 203);
        using var image = x[0].Bandjoin(x[1], x[0]).Cast(Enums.BandFormat.Uchar);
        var tensor = Run(new ImagePreprocessor(Raw(203, 100, Interpolation.Nearest)), image.WriteToBuffer(".png"));
        // left = round((301 - 100) / 2) = round(100.5) = 100 (half to even), top = round(51.5) = 52
        Assert.Equal(100f, tensor[0]);
        Assert.Equal(52f, tensor[100 * 100]);
        Assert.Equal(199f, tensor[99]);
    }

    [Fact]
    public void Shorter_side_is_resized_and_longer_side_truncated()
    {
        // 500×375 → shorter 256 → 341×256 (341.33 truncated); a 256 crop then leaves columns round(85/2)=42.. onward.
        using var x = Image.Xyz(500, 375);
        using var image = (x[0].Bandjoin(x[1], x[0]) / 2).Cast(Enums.BandFormat.Uchar);
        var tensor = Run(new ImagePreprocessor(Raw(256, 256, Interpolation.Nearest)), image.WriteToBuffer(".png"));
        // output column 42 of a 341-wide resize of 500 columns samples source column ≈ 42.5 × 500/341 ≈ 62 (value 31);
        // the crop's last column 297 samples ≈ 436 (value 218). A 500-wide or 256-wide result would miss both.
        Assert.InRange(tensor[0], 30f, 32f);
        Assert.InRange(tensor[255], 216f, 219f);
    }

    [Fact]
    public void Grayscale_photo_becomes_three_equal_channels()
    {
        Repository.RequireShared();
        var gray = Directory.GetFiles(Repository.ImagenetSamples).First(f =>
        {
            using var header = Image.NewFromFile(f);
            return header.Bands == 1;
        });
        var tensor = Run(new ImagePreprocessor(Raw(256, 224)), File.ReadAllBytes(gray));
        var plane = 224 * 224;
        Assert.Equal(tensor[..plane], tensor[plane..(2 * plane)]);
        Assert.Equal(tensor[..plane], tensor[(2 * plane)..]);
        Assert.True(tensor.Distinct().Count() > 50, "a real photo has many grey levels");
    }

    [Fact]
    public void Every_supported_format_gives_the_same_tensor_as_lossless_png()
    {
        Repository.RequireShared();
        using var photo = Image.NewFromFile(Sample("n01443537"));
        var preprocessor = new ImagePreprocessor(PreprocessingSettings.Timm());
        var reference = Run(preprocessor, photo.WriteToBuffer(".png"));

        Assert.Equal(reference, Run(preprocessor, photo.WriteToBuffer(".tif")));
        Assert.Equal(reference, Run(preprocessor, photo.WriteToBuffer(".webp[lossless]")));
        Assert.InRange(MeanAbsDifference(reference, Run(preprocessor, photo.WriteToBuffer(".webp[Q=95]"))), 0, 0.05);
        Assert.InRange(MeanAbsDifference(reference, Run(preprocessor, photo.WriteToBuffer(".jpg[Q=95]"))), 0, 0.05);
        // Palette GIF (256 colours, dithered) and palette PNG: close, not equal.
        Assert.InRange(MeanAbsDifference(reference, Run(preprocessor, photo.WriteToBuffer(".gif"))), 0, 0.25);
        Assert.InRange(MeanAbsDifference(reference, Run(preprocessor, photo.WriteToBuffer(".png[palette]"))), 0, 0.25);
    }

    [Fact]
    public void Animated_gif_uses_its_first_frame()
    {
        using var red = Image.Black(16, 16).NewFromImage(255, 0, 0).Cast(Enums.BandFormat.Uchar);
        using var blue = Image.Black(16, 16).NewFromImage(0, 0, 255).Cast(Enums.BandFormat.Uchar);
        using var strip = red.Join(blue, Enums.Direction.Vertical).Copy(interpretation: Enums.Interpretation.Srgb);
        using var animated = strip.Mutate(m => m.Set(GValue.GIntType, "page-height", 16));
        var gif = animated.WriteToBuffer(".gif");
        using (var all = Image.NewFromBuffer(gif, kwargs: new VOption { { "n", -1 } }))
            Assert.Equal(32, all.Height); // really two frames
        var tensor = Run(new ImagePreprocessor(Raw(16, 16, Interpolation.Nearest)), gif);
        Assert.All(tensor[..256], v => Assert.InRange(v, 250f, 255f));   // R
        Assert.All(tensor[512..], v => Assert.InRange(v, 0f, 5f));       // B
    }

    [Fact]
    public void Sixteen_bit_png_matches_its_eight_bit_source()
    {
        Repository.RequireShared();
        using var photo = Image.NewFromFile(Sample("n01443537"));
        using var wide = (photo.Cast(Enums.BandFormat.Ushort) * 257).Cast(Enums.BandFormat.Ushort).Copy(interpretation: Enums.Interpretation.Rgb16);
        var preprocessor = new ImagePreprocessor(Raw(256, 224));
        var eight = Run(preprocessor, photo.WriteToBuffer(".png"));
        var sixteen = Run(preprocessor, wide.WriteToBuffer(".png[bitdepth=16]"));
        Assert.InRange(eight.Zip(sixteen, (a, b) => Math.Abs(a - b)).Max(), 0, 1.01);
    }

    [Fact]
    public void Cmyk_jpeg_is_converted_to_rgb()
    {
        Repository.RequireShared();
        using var photo = Image.NewFromFile(Sample("n01443537"));
        using var cmyk = photo.Colourspace(Enums.Interpretation.Cmyk);
        var bytes = cmyk.WriteToBuffer(".jpg[Q=95]");
        using (var header = Image.NewFromBuffer(bytes))
            Assert.Equal(Enums.Interpretation.Cmyk, header.Interpretation);
        var preprocessor = new ImagePreprocessor(Raw(256, 224));
        var reference = Run(preprocessor, photo.WriteToBuffer(".png"));
        // ICC round trip through CMYK is not exact; within a few levels on average.
        Assert.InRange(MeanAbsDifference(reference, Run(preprocessor, bytes)), 0, 12);
    }

    [Fact]
    public void Alpha_is_flattened_on_white()
    {
        using var rgb = Image.Black(16, 16).NewFromImage(200, 0, 0).Cast(Enums.BandFormat.Uchar);
        using var x = Image.Xyz(16, 16);
        using var alpha = (x[0] < 8).Ifthenelse(255, 0).Cast(Enums.BandFormat.Uchar); // left half opaque
        using var rgba = rgb.Bandjoin(alpha).Copy(interpretation: Enums.Interpretation.Srgb);
        var tensor = Run(new ImagePreprocessor(Raw(16, 16, Interpolation.Nearest)), rgba.WriteToBuffer(".png"));
        Assert.Equal(200f, tensor[0]);            // R, opaque
        Assert.Equal(255f, tensor[15]);           // R, transparent → white
        Assert.Equal(0f, tensor[256]);            // G, opaque
        Assert.Equal(255f, tensor[256 + 15]);     // G, transparent → white
    }

    [Fact]
    public void Exif_orientation_is_applied()
    {
        Repository.RequireShared();
        using var photo = Image.NewFromFile(Sample("n01443537"));
        using var upright = photo.Crop(0, 0, photo.Width / 16 * 16, photo.Height / 16 * 16);
        // Orientation 6: the viewer rotates the stored pixels 90° clockwise, so store them rotated back.
        using var stored = upright.Rot270();
        using var tagged = stored.Mutate(m => m.Set(GValue.GIntType, "orientation", 6));
        var preprocessor = new ImagePreprocessor(Raw(256, 224));
        var expected = Run(preprocessor, upright.WriteToBuffer(".jpg[Q=98]"));
        var rotated = Run(preprocessor, tagged.WriteToBuffer(".jpg[Q=98]"));
        var ignored = Run(preprocessor, stored.WriteToBuffer(".jpg[Q=98,strip]"));
        Assert.InRange(MeanAbsDifference(expected, rotated), 0, 2);
        Assert.True(MeanAbsDifference(expected, ignored) > 10, "without the tag the tensor differs a lot");
    }

    [Fact]
    public void Jpeg_shrink_on_load_stays_close_to_a_full_decode()
    {
        Repository.RequireShared();
        using var photo = Image.NewFromFile(Sample("n01443537"));
        using var big = photo.Resize(5, Enums.Kernel.Lanczos3); // 2500×1875: shrink-on-load by 2 for a 256 target
        var bytes = big.WriteToBuffer(".jpg[Q=95]");
        var settings = PreprocessingSettings.Timm();
        var fast = new ImagePreprocessor(settings);
        Assert.True(fast.ShrinkOnLoad); // default: within the parity target (ReferenceParityTests)
        var shrunk = Run(fast, bytes);
        var full = Run(new ImagePreprocessor(settings) { ShrinkOnLoad = false }, bytes);
        Assert.NotEqual(full, shrunk); // the fast path really ran
        Assert.InRange(MeanAbsDifference(full, shrunk), 0, 0.02); // normalized units: ≈ 1 level of 255
    }

    [Fact]
    public void Upscaled_image_keeps_its_pixel_centres()
    {
        // A 4×4 checkerboard of 2×2 blocks enlarged ×4 (16×16). With Pillow's centre convention
        // the result is symmetric: column x mirrors column 15 − x. A grid shifted by half an input
        // pixel (the old libvips upscale) breaks the symmetry by tens of levels.
        var pixels = new byte[4 * 4 * 3];
        for (var i = 0; i < 16; i++)
            pixels[3 * i] = pixels[3 * i + 1] = pixels[3 * i + 2] = (byte)((i % 4 / 2 + i / 4 / 2) % 2 == 0 ? 20 : 220);
        using var board = Image.NewFromMemory(pixels, 4, 4, 3, Enums.BandFormat.Uchar);
        using var rgb = board.Copy(interpretation: Enums.Interpretation.Srgb);
        foreach (var interpolation in new[] { Interpolation.Bilinear, Interpolation.Bicubic })
        {
            var tensor = Run(new ImagePreprocessor(Raw(16, 16, interpolation)), rgb.WriteToBuffer(".png"));
            for (var row = 0; row < 16; row++)
                for (var col = 0; col < 16; col++)
                    Assert.InRange(Math.Abs(tensor[row * 16 + col] - tensor[(15 - row) * 16 + 15 - col]), 0, 1);
            Assert.Equal(20f, tensor[0], 0.5); // corner: far from any edge of the block
        }
    }

    [Fact]
    public void Stream_overload_matches_span()
    {
        Repository.RequireShared();
        var bytes = File.ReadAllBytes(Sample("n01443537"));
        var preprocessor = new ImagePreprocessor(PreprocessingSettings.Timm());
        var fromStream = new float[preprocessor.TensorLength];
        preprocessor.Preprocess(new MemoryStream(bytes), fromStream);
        Assert.Equal(Run(preprocessor, bytes), fromStream);
    }

    [Fact]
    public void Writes_only_its_slice_of_a_batch()
    {
        Repository.RequireShared();
        var preprocessor = new ImagePreprocessor(PreprocessingSettings.Timm());
        var batch = new float[3 * preprocessor.TensorLength];
        Array.Fill(batch, float.NaN);
        preprocessor.Preprocess(File.ReadAllBytes(Sample("n01443537")), batch.AsSpan(preprocessor.TensorLength, preprocessor.TensorLength));
        Assert.All(batch[..preprocessor.TensorLength], v => Assert.True(float.IsNaN(v)));
        Assert.All(batch[(2 * preprocessor.TensorLength)..], v => Assert.True(float.IsNaN(v)));
        Assert.DoesNotContain(batch.AsSpan(preprocessor.TensorLength, preprocessor.TensorLength).ToArray(), float.IsNaN);
        Assert.Throws<ArgumentException>(() => preprocessor.Preprocess(File.ReadAllBytes(Sample("n01443537")), new float[10]));
    }

    [Fact]
    public void Empty_random_and_truncated_inputs_are_rejected_with_reasons()
    {
        Repository.RequireShared();
        var preprocessor = new ImagePreprocessor(PreprocessingSettings.Timm());
        Assert.Equal(ImageRejectionReason.Empty, Rejected(preprocessor, []).Reason);

        var random = new byte[4096];
        new Random(7).NextBytes(random);
        var rejected = Rejected(preprocessor, random);
        Assert.Equal(ImageRejectionReason.Unsupported, rejected.Reason);
        Assert.Contains("not an image format", rejected.Message);

        var jpeg = File.ReadAllBytes(Sample("n01443537"));
        var truncated = Rejected(preprocessor, jpeg[..(jpeg.Length / 2)]);
        Assert.Equal(ImageRejectionReason.Undecodable, truncated.Reason);
        Assert.Contains("JPEG", truncated.Message);

        var header = Rejected(preprocessor, jpeg[..200]); // a JPEG signature and little else
        Assert.Equal(ImageRejectionReason.Undecodable, header.Reason);
    }

    [Fact]
    public void Too_many_bytes_is_rejected_before_decoding()
    {
        Repository.RequireShared();
        var jpeg = File.ReadAllBytes(Sample("n01443537"));
        var preprocessor = new ImagePreprocessor(PreprocessingSettings.Timm(), new ImageLimits { MaxBytes = jpeg.Length - 1 });
        var rejected = Rejected(preprocessor, jpeg);
        Assert.Equal(ImageRejectionReason.TooLarge, rejected.Reason);
        Assert.Contains("limit", rejected.Message);
        Assert.Equal(ImageRejectionReason.TooLarge,
            Assert.Throws<ImageRejectedException>(() => preprocessor.Preprocess(new MemoryStream(jpeg), new float[preprocessor.TensorLength])).Reason);
    }

    [Fact]
    public void Decompression_bomb_is_rejected_from_its_header()
    {
        var preprocessor = new ImagePreprocessor(PreprocessingSettings.Timm());
        // A 50000×50000 PNG header with almost no data: 2.5 gigapixels claimed by ~100 bytes.
        var bomb = PngClaiming(50_000, 50_000);
        var rejected = Rejected(preprocessor, bomb);
        Assert.Equal(ImageRejectionReason.TooManyPixels, rejected.Reason);
        Assert.Contains("50000×50000", rejected.Message);

        // A real, fully valid uniform image that compresses to almost nothing.
        using var black = Image.Black(6000, 6000);
        var png = black.Cast(Enums.BandFormat.Uchar).WriteToBuffer(".png[compression=9]");
        Assert.True(png.Length < 200_000);
        var limited = new ImagePreprocessor(PreprocessingSettings.Timm(), new ImageLimits { MaxPixels = 20_000_000 });
        Assert.Equal(ImageRejectionReason.TooManyPixels, Rejected(limited, png).Reason);
    }

    [Fact]
    public void Slow_decode_hits_the_timeout()
    {
        using var noise = Image.Gaussnoise(4000, 4000);
        var png = noise.Cast(Enums.BandFormat.Uchar).WriteToBuffer(".png[compression=1]");
        var preprocessor = new ImagePreprocessor(PreprocessingSettings.Timm(), new ImageLimits { DecodeTimeout = TimeSpan.FromMilliseconds(1) });
        var rejected = Rejected(preprocessor, png);
        Assert.Equal(ImageRejectionReason.Timeout, rejected.Reason);
        Assert.Contains("longer than", rejected.Message);
    }

    private static byte[] PngClaiming(int width, int height)
    {
        using var stream = new MemoryStream();
        stream.Write([0x89, (byte)'P', (byte)'N', (byte)'G', 0x0D, 0x0A, 0x1A, 0x0A]);
        var ihdr = new byte[13];
        BinaryPrimitives.WriteInt32BigEndian(ihdr, width);
        BinaryPrimitives.WriteInt32BigEndian(ihdr.AsSpan(4), height);
        ihdr[8] = 8; // bit depth
        ihdr[9] = 2; // RGB
        WriteChunk(stream, "IHDR", ihdr);
        using (var compressed = new MemoryStream())
        {
            using (var z = new ZLibStream(compressed, CompressionLevel.SmallestSize, leaveOpen: true))
                z.Write(new byte[1 + 3 * 1000]); // one filtered scanline's worth; the rest is missing
            WriteChunk(stream, "IDAT", compressed.ToArray());
        }
        WriteChunk(stream, "IEND", []);
        return stream.ToArray();
    }

    private static void WriteChunk(Stream stream, string type, byte[] data)
    {
        Span<byte> length = stackalloc byte[4];
        BinaryPrimitives.WriteInt32BigEndian(length, data.Length);
        stream.Write(length);
        var typed = new byte[4 + data.Length];
        System.Text.Encoding.ASCII.GetBytes(type).CopyTo(typed, 0);
        data.CopyTo(typed, 4);
        stream.Write(typed);
        BinaryPrimitives.WriteUInt32BigEndian(length, Crc32(typed));
        stream.Write(length);
    }

    private static uint Crc32(byte[] data)
    {
        var crc = 0xFFFFFFFFu;
        foreach (var b in data)
        {
            crc ^= b;
            for (var k = 0; k < 8; k++)
                crc = (crc & 1) != 0 ? (crc >> 1) ^ 0xEDB88320u : crc >> 1;
        }
        return ~crc;
    }
}

