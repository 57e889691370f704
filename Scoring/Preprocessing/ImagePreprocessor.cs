using System.Buffers;
using System.Diagnostics;
using NetVips;

namespace ConvNeXt.Batch.Scoring.Preprocessing;

/// <summary>
/// Turns one encoded image into the model's input tensor: decode (libvips; Skia for BMP and ICO),
/// apply EXIF orientation, convert to 8-bit sRGB, resize the shorter side, center-crop, normalize,
/// planar CHW, written straight into the caller's slice of a batch tensor. Thread-safe: one
/// instance serves every decode worker.
/// </summary>
/// <remarks>
/// Alpha is flattened on white (what a viewer shows for transparent PNG/GIF artwork, and what
/// ImageNet-style photos with alpha were usually composed on). ICC profiles of RGB images are
/// ignored, as PIL/torchvision do, so tensors match the reference pipelines; CMYK is converted with
/// libvips' built-in profile.
/// <para>
/// The resize reproduces torchvision <c>Resize</c> on a PIL image (Pillow's <c>Image.resize</c>):
/// pixel centres at (i + 0.5) / scale − 0.5; when shrinking, the bilinear or bicubic (a = −0.5)
/// kernel is widened by the shrink factor (antialiasing), which is libvips <c>reduce</c> with no
/// box pre-shrink; when enlarging, the kernel keeps unit support, which is libvips <c>affine</c>
/// with the same centre convention and the matching interpolator (libvips' bicubic is
/// Catmull-Rom, a = −0.5, as Pillow's).
/// </para>
/// </remarks>
public sealed class ImagePreprocessor
{
    // The vips operation cache keys on buffer addresses and would keep decoded images of
    // one-off inputs alive; in a scoring pipeline every image is new, so it only costs memory.
    // The pipeline already preprocesses one image per core at once; libvips' own per-image worker
    // threads (one per core by default) would only oversubscribe the cores and add hand-offs to
    // every small image, so each image gets one, unless VIPS_CONCURRENCY says otherwise.
    static ImagePreprocessor()
    {
        Cache.Max = 0;
        if (Environment.GetEnvironmentVariable("VIPS_CONCURRENCY") is null)
            global::NetVips.NetVips.Concurrency = 1;
        LibvipsLog.Install();
    }

    private static readonly Interpolate BicubicInterpolator = Interpolate.NewFromName("bicubic");
    private static readonly Interpolate BilinearInterpolator = Interpolate.NewFromName("bilinear");

    private readonly float[] _lut; // [3 * 256]: model channel k, 8-bit value v → normalized float
    private readonly int[] _sourceBand; // model channel k reads sRGB band _sourceBand[k]

    public ImagePreprocessor(PreprocessingSettings settings, ImageLimits? limits = null)
    {
        ArgumentNullException.ThrowIfNull(settings);
        if (settings.ResizeShorter <= 0 || settings.CropHeight <= 0 || settings.CropWidth <= 0)
            throw new ArgumentException("resize and crop sizes must be positive", nameof(settings));
        if (settings.Mean.Length != 3 || settings.Std.Length != 3)
            throw new ArgumentException("mean and std need three values each", nameof(settings));
        Settings = settings;
        Limits = limits ?? ImageLimits.Default;
        _sourceBand = settings.ChannelOrder == ChannelOrder.Bgr ? [2, 1, 0] : [0, 1, 2];
        _lut = new float[3 * 256];
        for (var k = 0; k < 3; k++)
            for (var v = 0; v < 256; v++)
                _lut[k * 256 + v] = (v * settings.PixelScale / 255f - settings.Mean[k]) / settings.Std[k];
    }

    public PreprocessingSettings Settings { get; }

    public ImageLimits Limits { get; }

    /// <summary>
    /// Large JPEGs are decoded at 1/2, 1/4 or 1/8 scale in the DCT domain, keeping at least twice
    /// the resize target. On by default: measured against the reference crops it stays within the
    /// parity target (docs/scoring.md) and leaves SqueezeNet top-1 agreement unchanged, while a full
    /// decode of a large photo costs several times more. Off: the reference-exact path.
    /// </summary>
    public bool ShrinkOnLoad { get; init; } = true;

    /// <summary>Number of floats <see cref="Preprocess(ReadOnlySpan{byte}, Span{float})"/> writes.</summary>
    public int TensorLength => Settings.TensorLength;

    /// <summary>Decodes <paramref name="encoded"/> and writes 3×CropHeight×CropWidth floats (CHW) to <paramref name="destination"/>.</summary>
    /// <exception cref="ImageRejectedException">The input is empty, too large, not an image, corrupt, or took too long.</exception>
    public unsafe void Preprocess(ReadOnlySpan<byte> encoded, Span<float> destination)
    {
        if (destination.Length < TensorLength)
            throw new ArgumentException($"destination holds {destination.Length} floats; {TensorLength} needed", nameof(destination));
        if (encoded.IsEmpty)
            throw new ImageRejectedException(ImageRejectionReason.Empty, "the image is empty (0 bytes)");
        if (encoded.Length > Limits.MaxBytes)
            throw new ImageRejectedException(ImageRejectionReason.TooLarge,
                $"the image has {encoded.Length:N0} bytes; the limit is {Limits.MaxBytes:N0}");

        // libvips reads the buffer lazily while pixels are computed: keep it pinned until the
        // last pixel has been written out.
        fixed (byte* pinned = encoded)
        {
            var data = new ReadOnlySpan<byte>(pinned, encoded.Length);
            var loader = Image.FindLoadBuffer(data);
            try
            {
                if (loader is null)
                    DecodeWithFallback(data, destination);
                else
                    Decode(data, loader, destination);
            }
            catch (ImageRejectedException)
            {
                throw;
            }
            catch (VipsException e)
            {
                throw new ImageRejectedException(ImageRejectionReason.Undecodable,
                    $"{(loader is null ? EncodedFormat.Detect(data) ?? "image" : FormatName(loader))} data could not be decoded: {FirstLine(e.Message)}", e);
            }
        }
    }

    /// <summary>Reads at most <see cref="ImageLimits.MaxBytes"/> (+1, to detect overflow) from <paramref name="stream"/>, then preprocesses it.</summary>
    public void Preprocess(Stream stream, Span<float> destination)
    {
        ArgumentNullException.ThrowIfNull(stream);
        var limit = (int)Math.Min(Limits.MaxBytes + 1, Array.MaxLength);
        var buffer = ArrayPool<byte>.Shared.Rent(Math.Min(limit, 1 << 20));
        try
        {
            var length = 0;
            while (true)
            {
                if (length == buffer.Length)
                {
                    if (length >= limit)
                        break;
                    var larger = ArrayPool<byte>.Shared.Rent((int)Math.Min((long)buffer.Length * 2, limit));
                    buffer.AsSpan(0, length).CopyTo(larger);
                    ArrayPool<byte>.Shared.Return(buffer);
                    buffer = larger;
                }
                var read = stream.Read(buffer, length, Math.Min(buffer.Length, limit) - length);
                if (read == 0)
                    break;
                length += read;
            }
            Preprocess(buffer.AsSpan(0, length), destination);
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    /// <summary>Formats libvips has no loader for: Skia, else a rejection naming the detected format.</summary>
    private void DecodeWithFallback(ReadOnlySpan<byte> data, Span<float> destination)
    {
        var started = Stopwatch.GetTimestamp();
        var format = EncodedFormat.Detect(data);
        using var image = SkiaFallbackDecoder.TryDecode(data, format ?? "image", Limits, started)
            ?? throw new ImageRejectedException(ImageRejectionReason.Unsupported, format is null
                ? $"not an image format this build can read (unrecognised signature {Convert.ToHexString(data[..Math.Min(8, data.Length)])})"
                : $"{format} is not an image format this build can read");
        var owned = new List<Image>(8);
        try
        {
            Finish(image, image.Width, image.Height, x => { owned.Add(x); return x; }, destination, format ?? "image", started);
        }
        finally
        {
            for (var i = owned.Count - 1; i >= 0; i--)
                owned[i].Dispose();
        }
    }

    private void Decode(ReadOnlySpan<byte> data, string loader, Span<float> destination)
    {
        var s = Settings;
        var owned = new List<Image>(8);
        try
        {
            Image Track(Image image)
            {
                owned.Add(image);
                return image;
            }

            // Opening reads only the header; the same image then gives the pixels, unless shrink-on-load
            // needs a second open with the shrink factor.
            var image = Track(Image.NewFromBuffer(data, access: Enums.Access.Sequential, failOn: Enums.FailOn.Error));
            int width = image.Width, height = image.Height;
            var orientation = image.GetTypeOf("orientation") != 0 ? (int)image.Get("orientation") : 1;
            var pixels = (long)width * height;
            if (pixels > Limits.MaxPixels)
                throw new ImageRejectedException(ImageRejectionReason.TooManyPixels,
                    $"the image is {width}×{height} ({pixels:N0} pixels); the limit is {Limits.MaxPixels:N0}");

            // Fast mode only: JPEG can decode at 1/2, 1/4, 1/8 scale almost for free; keep at least 2×
            // the target resolution so the final antialiased resize still sees enough pixels.
            var shrink = 1;
            if (ShrinkOnLoad && loader.StartsWith("VipsForeignLoadJpeg", StringComparison.Ordinal))
                foreach (var candidate in (ReadOnlySpan<int>)[8, 4, 2])
                    if (Math.Min(width, height) / candidate >= 2 * s.ResizeShorter)
                    {
                        shrink = candidate;
                        break;
                    }

            var started = Stopwatch.GetTimestamp();
            if (shrink > 1)
                image = Track(Image.NewFromBuffer(data, access: Enums.Access.Sequential, failOn: Enums.FailOn.Error, kwargs: new VOption { { "shrink", shrink } }));
            if (orientation != 1)
                image = Track(image.Autorot());
            // The output size comes from the upright original, so shrink-on-load cannot change it.
            var (uprightW, uprightH) = orientation is >= 5 and <= 8 ? (height, width) : (width, height);
            Finish(image, uprightW, uprightH, Track, destination, FormatName(loader), started);
        }
        finally
        {
            for (var i = owned.Count - 1; i >= 0; i--)
                owned[i].Dispose();
        }
    }

    /// <summary>Decoded, upright pixels of a <paramref name="width"/>×<paramref name="height"/> original → tensor.</summary>
    private unsafe void Finish(Image image, int width, int height, Func<Image, Image> track, Span<float> destination, string format, long started)
    {
        var s = Settings;
        image = ToSrgb8(image, track);

        // torchvision Resize(int): shorter side = ResizeShorter, longer side int(size * long / short).
        int outW, outH;
        if (width <= height)
        {
            outW = s.ResizeShorter;
            outH = (int)((long)s.ResizeShorter * height / width);
        }
        else
        {
            outH = s.ResizeShorter;
            outW = (int)((long)s.ResizeShorter * width / height);
        }
        if (image.Width != outW || image.Height != outH)
            image = Resample(image, outW, outH, s.Interpolation, track);

        // torchvision CenterCrop: offset round((size - crop) / 2), zero padding when smaller.
        if (image.Width < s.CropWidth || image.Height < s.CropHeight)
            image = track(image.Embed(
                Math.Max(0, (s.CropWidth - image.Width) / 2), Math.Max(0, (s.CropHeight - image.Height) / 2),
                Math.Max(image.Width, s.CropWidth), Math.Max(image.Height, s.CropHeight), Enums.Extend.Black));
        var left = (int)Math.Round((image.Width - s.CropWidth) / 2.0, MidpointRounding.ToEven);
        var top = (int)Math.Round((image.Height - s.CropHeight) / 2.0, MidpointRounding.ToEven);
        if (left != 0 || top != 0 || image.Width != s.CropWidth || image.Height != s.CropHeight)
            image = track(image.ExtractArea(left, top, s.CropWidth, s.CropHeight));

        using var timeout = Limits.DecodeTimeout == Timeout.InfiniteTimeSpan ? null
            : new CancellationTokenSource(Limits.DecodeTimeout - Stopwatch.GetElapsedTime(started) is var remaining && remaining > TimeSpan.Zero ? remaining : TimeSpan.FromTicks(1));
        if (timeout is not null)
            image.SetProgress(NoProgress.Instance, timeout.Token);
        IntPtr memory;
        try
        {
            memory = image.WriteToMemory(out var size);
            // libvips checks for cancellation only between tiles, and the token's timer needs a free
            // thread-pool thread, so a decode can finish past its deadline uncancelled; the limit holds either way.
            if (timeout is not null && Stopwatch.GetElapsedTime(started) > Limits.DecodeTimeout)
            {
                global::NetVips.NetVips.Free(memory);
                throw new ImageRejectedException(ImageRejectionReason.Timeout,
                    $"decoding took longer than {Limits.DecodeTimeout.TotalMilliseconds:N0} ms ({width}×{height} {format})");
            }
            if ((long)size != 3L * s.CropWidth * s.CropHeight)
            {
                global::NetVips.NetVips.Free(memory);
                throw new ImageRejectedException(ImageRejectionReason.Unsupported, $"unexpected pixel buffer of {size} bytes");
            }
        }
        catch (VipsException e) when (timeout?.IsCancellationRequested == true)
        {
            throw new ImageRejectedException(ImageRejectionReason.Timeout,
                $"decoding took longer than {Limits.DecodeTimeout.TotalMilliseconds:N0} ms ({width}×{height} {format})", e);
        }
        try
        {
            WriteTensor(new ReadOnlySpan<byte>((void*)memory, 3 * s.CropWidth * s.CropHeight), destination);
        }
        finally
        {
            global::NetVips.NetVips.Free(memory);
        }
    }

    /// <summary>
    /// Pillow's resize with libvips. Shrinking goes one axis at a time as Pillow does (horizontal, then
    /// vertical, each pass rounded to 8 bits) through <c>reduceh</c>/<c>reducev</c>: kernel support
    /// stretched by the shrink factor, centre convention, no box pre-shrink. Enlarging goes through
    /// <c>affine</c> with the centre convention out + 0.5 = scale × (in + 0.5), i.e. input offset +0.5,
    /// output offset −0.5 (bicubic: both axes in one pass). Everything stays on 8-bit pixels
    /// (libvips' fixed-point paths, 12-bit coefficients against Pillow's 22-bit ones): 0.1–0.2 level
    /// off on average. Float enlarging passes were no closer within the parity target and cost twice
    /// as much per enlarged image (docs/benchmarks.md).
    /// </summary>
    private static Image Resample(Image image, int outW, int outH, Interpolation interpolation, Func<Image, Image> track)
    {
        if (interpolation == Interpolation.Nearest)
            return track(image.Resize((double)outW / image.Width, Enums.Kernel.Nearest, vscale: (double)outH / image.Height));

        var kernel = interpolation == Interpolation.Bilinear ? Enums.Kernel.Linear : Enums.Kernel.Cubic;
        var interpolator = interpolation == Interpolation.Bilinear ? BilinearInterpolator : BicubicInterpolator;
        // Bicubic enlarging of both axes (every enlarged photo: the aspect ratio is kept): one 2-D pass.
        // libvips' affine samples the full 4×4 window whatever the transform, so two 1-D passes cost
        // twice, for the same closeness to Pillow. Its 2-D bilinear rounds coarser than two 1-D
        // passes (0.15 level against 0.01 off), and those are cheap: bilinear stays axis by axis.
        if (interpolation == Interpolation.Bicubic && outW > image.Width && outH > image.Height)
            return track(image.Affine([(double)outW / image.Width, 0, 0, (double)outH / image.Height], interpolator,
                oarea: [0, 0, outW, outH], idx: 0.5, idy: 0.5, odx: -0.5, ody: -0.5, extend: Enums.Extend.Copy));
        if (outW < image.Width)
            image = track(image.Reduceh((double)image.Width / outW, kernel, gap: 0.0));
        else if (outW > image.Width)
            image = track(image.Affine([(double)outW / image.Width, 0, 0, 1], interpolator,
                oarea: [0, 0, outW, image.Height], idx: 0.5, idy: 0.5, odx: -0.5, ody: -0.5, extend: Enums.Extend.Copy));
        if (outH < image.Height)
            image = track(image.Reducev((double)image.Height / outH, kernel, gap: 0.0));
        else if (outH > image.Height)
            image = track(image.Affine([1, 0, 0, (double)outH / image.Height], interpolator,
                oarea: [0, 0, image.Width, outH], idx: 0.5, idy: 0.5, odx: -0.5, ody: -0.5, extend: Enums.Extend.Copy));
        return image;
    }

    /// <summary>Grayscale, CMYK, 16-bit, palette and alpha all end as 3-band 8-bit sRGB.</summary>
    private static Image ToSrgb8(Image image, Func<Image, Image> track)
    {
        var interpretation = image.Interpretation;
        if (interpretation != Enums.Interpretation.Srgb || image.Format != Enums.BandFormat.Uchar)
        {
            try
            {
                image = track(image.Colourspace(Enums.Interpretation.Srgb));
            }
            catch (VipsException e)
            {
                throw new ImageRejectedException(ImageRejectionReason.Unsupported,
                    $"cannot convert {image.Bands}-band {interpretation} pixels to RGB: {FirstLine(e.Message)}", e);
            }
        }
        if (image.HasAlpha())
            image = track(image.Flatten(background: [255, 255, 255]));
        if (image.Format != Enums.BandFormat.Uchar)
            image = track(image.Cast(Enums.BandFormat.Uchar));
        if (image.Bands > 3)
            image = track(image.ExtractBand(0, n: 3));
        if (image.Bands != 3)
            throw new ImageRejectedException(ImageRejectionReason.Unsupported, $"{image.Bands}-band {interpretation} image has no RGB form");
        return image;
    }

    private void WriteTensor(ReadOnlySpan<byte> hwc, Span<float> chw)
    {
        var plane = Settings.CropWidth * Settings.CropHeight;
        var lut = _lut.AsSpan();
        for (var k = 0; k < 3; k++)
        {
            var channelLut = lut.Slice(k * 256, 256);
            var dst = chw.Slice(k * plane, plane);
            var band = _sourceBand[k];
            for (int i = 0, j = band; i < plane; i++, j += 3)
                dst[i] = channelLut[hwc[j]];
        }
    }

    private static string FormatName(string loader)
    {
        // "VipsForeignLoadJpegBuffer" → "JPEG"
        var name = loader.Replace("VipsForeignLoad", "", StringComparison.Ordinal);
        foreach (var suffix in (ReadOnlySpan<string>)["Buffer", "Source", "File"])
            if (name.EndsWith(suffix, StringComparison.Ordinal))
                name = name[..^suffix.Length];
        return name.ToUpperInvariant();
    }

    private static string FirstLine(string message)
    {
        var trimmed = message.Trim();
        var newline = trimmed.IndexOf('\n');
        return newline < 0 ? trimmed : trimmed[..newline].Trim() + " …";
    }

    private sealed class NoProgress : IProgress<int>
    {
        public static readonly NoProgress Instance = new();
        public void Report(int value) { }
    }
}
