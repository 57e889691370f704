using System.Buffers.Binary;
using System.Text;
using System.Text.RegularExpressions;

namespace ConvNeXt.Batch.Scoring.Tests.Models;

/// <summary>Reads NumPy .npy files (format 1.x/2.x, little-endian float32 or float64, C order).</summary>
internal static partial class Npy
{
    public static (int[] Shape, float[] Data) Read(string path)
    {
        var bytes = File.ReadAllBytes(path);
        if (bytes.Length < 10 || bytes[0] != 0x93 || Encoding.ASCII.GetString(bytes, 1, 5) != "NUMPY")
            throw new InvalidDataException($"{path}: not a .npy file");
        var major = bytes[6];
        var (headerLength, headerStart) = major == 1
            ? (BinaryPrimitives.ReadUInt16LittleEndian(bytes.AsSpan(8)), 10)
            : ((int)BinaryPrimitives.ReadUInt32LittleEndian(bytes.AsSpan(8)), 12);
        var header = Encoding.ASCII.GetString(bytes, headerStart, headerLength);
        var descr = Descr().Match(header).Groups[1].Value;
        if (FortranOrder().Match(header).Groups[1].Value == "True")
            throw new InvalidDataException($"{path}: Fortran order not supported");
        var shape = ShapeRegex().Match(header).Groups[1].Value
            .Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).Select(int.Parse).ToArray();
        var count = shape.Aggregate(1, (a, d) => a * d);
        var data = new float[count];
        var body = bytes.AsSpan(headerStart + headerLength);
        for (var i = 0; i < count; i++)
            data[i] = descr switch
            {
                "<f4" => BinaryPrimitives.ReadSingleLittleEndian(body[(4 * i)..]),
                "<f8" => (float)BinaryPrimitives.ReadDoubleLittleEndian(body[(8 * i)..]),
                _ => throw new InvalidDataException($"{path}: dtype {descr} not supported"),
            };
        return (shape, data);
    }

    [GeneratedRegex(@"'descr':\s*'([^']+)'")] private static partial Regex Descr();
    [GeneratedRegex(@"'fortran_order':\s*(True|False)")] private static partial Regex FortranOrder();
    [GeneratedRegex(@"'shape':\s*\(([^)]*)\)")] private static partial Regex ShapeRegex();
}
