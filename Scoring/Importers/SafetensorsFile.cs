using System.Buffers.Binary;
using System.Text.Json;

namespace ConvNeXt.Batch.Scoring.Importers;

/// <summary>
/// Reads the safetensors container: an 8-byte little-endian header length, a JSON header
/// <c>{name: {dtype, shape, data_offsets: [begin, end]}}</c> (offsets relative to the end of the
/// header; key <c>__metadata__</c> holds free-form strings), then the raw little-endian data.
/// </summary>
internal static class SafetensorsFile
{
    private const long MaxHeaderBytes = 100L * 1024 * 1024;

    public static IReadOnlyList<RawTensor> Read(string path)
    {
        using var stream = File.OpenRead(path);
        Span<byte> lengthBytes = stackalloc byte[8];
        if (stream.ReadAtLeast(lengthBytes, 8, throwOnEndOfStream: false) != 8)
            throw new WeightImportException($"{path}: too short to be a safetensors file");
        var headerLength = BinaryPrimitives.ReadInt64LittleEndian(lengthBytes);
        if (headerLength <= 0 || headerLength > MaxHeaderBytes || 8 + headerLength > stream.Length)
            throw new WeightImportException($"{path}: not a safetensors file (header length {headerLength})");
        var header = new byte[headerLength];
        stream.ReadExactly(header);
        var dataStart = 8 + headerLength;
        var dataLength = stream.Length - dataStart;

        JsonDocument doc;
        try { doc = JsonDocument.Parse(header); }
        catch (JsonException e) { throw new WeightImportException($"{path}: safetensors header is not valid JSON: {e.Message}", null, e); }

        var tensors = new List<RawTensor>();
        using (doc)
        {
            foreach (var entry in doc.RootElement.EnumerateObject())
            {
                if (entry.Name == "__metadata__")
                    continue;
                var name = entry.Name;
                try
                {
                    var dtype = entry.Value.GetProperty("dtype").GetString() ?? "";
                    var shape = entry.Value.GetProperty("shape").EnumerateArray().Select(e => e.GetInt32()).ToArray();
                    var offsets = entry.Value.GetProperty("data_offsets").EnumerateArray().Select(e => e.GetInt64()).ToArray();
                    if (offsets.Length != 2 || offsets[0] < 0 || offsets[1] < offsets[0] || offsets[1] > dataLength)
                        throw new WeightImportException($"tensor '{name}' has data offsets outside the file", name);
                    var (begin, end) = (dataStart + offsets[0], dataStart + offsets[1]);
                    tensors.Add(new RawTensor(name, shape, dtype, () => ReadData(path, name, dtype, begin, end)));
                }
                catch (Exception e) when (e is KeyNotFoundException or InvalidOperationException or FormatException)
                {
                    throw new WeightImportException($"tensor '{name}' has a malformed safetensors header entry", name, e);
                }
            }
        }
        return tensors;
    }

    private static float[] ReadData(string path, string name, string dtype, long begin, long end)
    {
        if (end - begin > int.MaxValue)
            throw new WeightImportException($"tensor '{name}' is larger than 2 GB", name);
        var bytes = new byte[end - begin];
        using (var stream = File.OpenRead(path))
        {
            stream.Position = begin;
            stream.ReadExactly(bytes);
        }
        return dtype switch
        {
            "F32" => ElementConversion.FromFloat32(bytes, name),
            "F16" => ElementConversion.FromFloat16(bytes, name),
            "BF16" => ElementConversion.FromBFloat16(bytes, name),
            "F64" => ElementConversion.FromFloat64(bytes, name),
            _ => throw new WeightImportException($"tensor '{name}' has element type {dtype}; expected F32, F16, BF16 or F64", name),
        };
    }
}
