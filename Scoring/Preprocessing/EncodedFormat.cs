using System.Text;

namespace ConvNeXt.Batch.Scoring.Preprocessing;

/// <summary>
/// Names the format of an encoded file from its signature, so a rejection can say "BMP" or "HEIC"
/// instead of hex bytes. Detection only: whether the format can be decoded is the decoders' business.
/// </summary>
public static class EncodedFormat
{
    /// <summary>A short format name ("JPEG", "BMP", "HEIC", "PDF", …), or null when the signature is unknown.</summary>
    public static string? Detect(ReadOnlySpan<byte> data)
    {
        if (data.StartsWith((ReadOnlySpan<byte>)[0xFF, 0xD8, 0xFF])) return "JPEG";
        if (data.StartsWith((ReadOnlySpan<byte>)[0x89, (byte)'P', (byte)'N', (byte)'G'])) return "PNG";
        if (data.StartsWith("GIF8"u8)) return "GIF";
        if (data.Length >= 12 && data.StartsWith("RIFF"u8) && data[8..12].SequenceEqual("WEBP"u8)) return "WebP";
        if (data.StartsWith("BM"u8) && data.Length >= 18) return "BMP";
        if (data.StartsWith((ReadOnlySpan<byte>)[0, 0, 1, 0]) && data.Length >= 6 && data[4] + data[5] > 0) return "ICO";
        if (data.StartsWith((ReadOnlySpan<byte>)[0, 0, 2, 0]) && data.Length >= 6 && data[4] + data[5] > 0) return "CUR";
        if (data.StartsWith("II*\0"u8) || data.StartsWith("MM\0*"u8)) return "TIFF";
        if (data.StartsWith("II+\0"u8) || data.StartsWith("MM\0+"u8)) return "BigTIFF";
        if (data.StartsWith("%PDF"u8)) return "PDF";
        if (data.StartsWith("8BPS"u8)) return "PSD";
        if (data.StartsWith((ReadOnlySpan<byte>)[0xFF, 0x0A]) || data.StartsWith((ReadOnlySpan<byte>)[0, 0, 0, 0x0C, (byte)'J', (byte)'X', (byte)'L', (byte)' '])) return "JPEG XL";
        if (data.StartsWith((ReadOnlySpan<byte>)[0, 0, 0, 0x0C, (byte)'j', (byte)'P', (byte)' ', (byte)' ']) || data.StartsWith((ReadOnlySpan<byte>)[0xFF, 0x4F, 0xFF, 0x51])) return "JPEG 2000";
        if (data.StartsWith((ReadOnlySpan<byte>)[0x76, 0x2F, 0x31, 0x01])) return "OpenEXR";
        if (data.StartsWith("DDS "u8)) return "DDS";
        if (data.StartsWith("qoif"u8)) return "QOI";
        if (data.StartsWith("#?RADIANCE"u8) || data.StartsWith("#?RGBE"u8)) return "Radiance HDR";
        if (data.Length >= 3 && data[0] == (byte)'P' && data[1] is >= (byte)'1' and <= (byte)'7' && data[2] is (byte)'\n' or (byte)'\r' or (byte)' ') return "PNM";
        if (data.Length >= 12 && data[4..8].SequenceEqual("ftyp"u8))
            return Encoding.ASCII.GetString(data[8..12]) switch
            {
                "heic" or "heix" or "heim" or "heis" or "hevc" or "hevx" or "mif1" or "msf1" => "HEIC",
                "avif" or "avis" => "AVIF",
                "crx " => "Canon CR3 raw",
                "qt  " => "QuickTime video",
                _ => "MP4 video",
            };
        if (data.StartsWith("PK\x03\x04"u8)) return "ZIP archive";
        if (data.StartsWith((ReadOnlySpan<byte>)[0x1F, 0x8B])) return "gzip archive";
        var text = Encoding.ASCII.GetString(data[..Math.Min(data.Length, 256)]).TrimStart('\uFEFF', ' ', '\t', '\r', '\n');
        if (text.StartsWith("<svg", StringComparison.OrdinalIgnoreCase)
            || (text.StartsWith("<?xml", StringComparison.OrdinalIgnoreCase) && text.Contains("<svg", StringComparison.OrdinalIgnoreCase)))
            return "SVG";
        if (text.StartsWith("<!DOCTYPE html", StringComparison.OrdinalIgnoreCase) || text.StartsWith("<html", StringComparison.OrdinalIgnoreCase))
            return "HTML";
        return null;
    }
}
