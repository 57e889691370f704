namespace ConvNeXt.Batch.Scoring.Importers;

/// <summary>A tensor as a checkpoint stores it, its values read (and widened to float32) only on demand.</summary>
internal sealed record RawTensor(string Name, int[] Shape, string DataType, Func<float[]> Read);

internal static class ElementConversion
{
    public static float[] FromFloat16(ReadOnlySpan<byte> bytes, string name)
    {
        var result = new float[Check(bytes.Length, 2, name)];
        for (var i = 0; i < result.Length; i++)
            result[i] = (float)BitConverter.UInt16BitsToHalf(System.Buffers.Binary.BinaryPrimitives.ReadUInt16LittleEndian(bytes[(2 * i)..]));
        return result;
    }

    public static float[] FromBFloat16(ReadOnlySpan<byte> bytes, string name)
    {
        var result = new float[Check(bytes.Length, 2, name)];
        // bfloat16 is the upper half of a float32.
        for (var i = 0; i < result.Length; i++)
            result[i] = BitConverter.Int32BitsToSingle(System.Buffers.Binary.BinaryPrimitives.ReadUInt16LittleEndian(bytes[(2 * i)..]) << 16);
        return result;
    }

    public static float[] FromFloat32(ReadOnlySpan<byte> bytes, string name)
    {
        var result = new float[Check(bytes.Length, 4, name)];
        if (BitConverter.IsLittleEndian)
            bytes.CopyTo(System.Runtime.InteropServices.MemoryMarshal.AsBytes(result.AsSpan()));
        else
            for (var i = 0; i < result.Length; i++)
                result[i] = System.Buffers.Binary.BinaryPrimitives.ReadSingleLittleEndian(bytes[(4 * i)..]);
        return result;
    }

    public static float[] FromFloat64(ReadOnlySpan<byte> bytes, string name)
    {
        var result = new float[Check(bytes.Length, 8, name)];
        for (var i = 0; i < result.Length; i++)
            result[i] = (float)System.Buffers.Binary.BinaryPrimitives.ReadDoubleLittleEndian(bytes[(8 * i)..]);
        return result;
    }

    private static int Check(int length, int size, string name) =>
        length % size == 0 ? length / size
            : throw new WeightImportException($"tensor '{name}' has {length} bytes, not a multiple of {size}", name);
}
