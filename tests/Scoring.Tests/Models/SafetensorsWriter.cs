using System.Buffers.Binary;
using System.Text;
using System.Text.Json;

namespace ConvNeXt.Batch.Scoring.Tests.Models;

/// <summary>Writes safetensors files for tests: edited copies of the golden checkpoints.</summary>
internal static class SafetensorsWriter
{
    public sealed record Entry(string Name, string DType, int[] Shape, byte[] Data);

    /// <summary>Every tensor of a safetensors file, with its raw bytes, in file order.</summary>
    public static List<Entry> ReadAll(string path)
    {
        var bytes = File.ReadAllBytes(path);
        var n = (int)BinaryPrimitives.ReadInt64LittleEndian(bytes);
        using var doc = JsonDocument.Parse(bytes.AsMemory(8, n));
        var entries = new List<Entry>();
        foreach (var p in doc.RootElement.EnumerateObject())
        {
            if (p.Name == "__metadata__") continue;
            var off = p.Value.GetProperty("data_offsets").EnumerateArray().Select(e => e.GetInt32()).ToArray();
            entries.Add(new Entry(p.Name, p.Value.GetProperty("dtype").GetString()!,
                p.Value.GetProperty("shape").EnumerateArray().Select(e => e.GetInt32()).ToArray(),
                bytes.AsSpan(8 + n + off[0], off[1] - off[0]).ToArray()));
        }
        return entries;
    }

    public static void Write(string path, IEnumerable<Entry> entries)
    {
        var header = new Dictionary<string, object> { ["__metadata__"] = new Dictionary<string, string> { ["format"] = "pt" } };
        var offset = 0L;
        var list = entries.ToList();
        foreach (var e in list)
        {
            header[e.Name] = new { dtype = e.DType, shape = e.Shape, data_offsets = new[] { offset, offset + e.Data.Length } };
            offset += e.Data.Length;
        }
        var json = Encoding.UTF8.GetBytes(JsonSerializer.Serialize(header));
        using var stream = File.Create(path);
        Span<byte> length = stackalloc byte[8];
        BinaryPrimitives.WriteInt64LittleEndian(length, json.Length);
        stream.Write(length);
        stream.Write(json);
        foreach (var e in list)
            stream.Write(e.Data);
    }

    public static Entry ToHalf(Entry e) => e with
    {
        DType = "F16",
        Data = Floats(e.Data).SelectMany(f => BitConverter.GetBytes((Half)f)).ToArray(),
    };

    public static Entry ToBFloat16(Entry e) => e with
    {
        DType = "BF16",
        // Round to nearest even on the upper 16 bits, as torch does.
        Data = Floats(e.Data).SelectMany(f =>
        {
            var bits = BitConverter.SingleToUInt32Bits(f);
            var rounded = (ushort)((bits + 0x7FFF + ((bits >> 16) & 1)) >> 16);
            return BitConverter.GetBytes(rounded);
        }).ToArray(),
    };

    private static IEnumerable<float> Floats(byte[] data)
    {
        for (var i = 0; i < data.Length; i += 4)
            yield return BinaryPrimitives.ReadSingleLittleEndian(data.AsSpan(i));
    }
}
