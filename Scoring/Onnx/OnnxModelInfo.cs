using ConvNeXt.Batch.Scoring.Models;
using ConvNeXt.Batch.Scoring.Onnx.Proto;
using Google.Protobuf;
using DataType = ConvNeXt.Batch.Scoring.Onnx.Proto.TensorProto.Types.DataType;

namespace ConvNeXt.Batch.Scoring.Onnx;

/// <summary>A graph input or output: name, element type (e.g. float32) and dims (a number or a symbolic name).</summary>
public sealed record OnnxTensorInfo(string Name, string ElementType, IReadOnlyList<string> Shape)
{
    public override string ToString() => $"{Name}: {ElementType}[{string.Join(", ", Shape)}]";
}

/// <summary>What <c>convnext-batch model inspect</c> shows about an ONNX file, read without running it.</summary>
public sealed record OnnxModelInfo
{
    public required string Path { get; init; }
    public required long FileBytes { get; init; }
    /// <summary>Sum of the elements of all initializers.</summary>
    public required long Parameters { get; init; }
    /// <summary>Multiply-accumulates of Conv, MatMul and Gemm for one image at <see cref="MacsImageSize"/>; <c>null</c> when the graph has operators whose shapes this reader does not follow.</summary>
    public long? Macs { get; init; }
    public int MacsImageSize { get; init; }
    public required long Opset { get; init; }
    public required long IrVersion { get; init; }
    public string? Producer { get; init; }
    public required IReadOnlyList<OnnxTensorInfo> Inputs { get; init; }
    public required IReadOnlyList<OnnxTensorInfo> Outputs { get; init; }
    public required IReadOnlyDictionary<string, string> Properties { get; init; }
    public required ModelMetadata Metadata { get; init; }
    /// <summary>Element types of the initializers with their element counts (e.g. float16 → 28 M).</summary>
    public required IReadOnlyDictionary<string, long> ParameterTypes { get; init; }

    public static OnnxModelInfo Read(string path, int imageSize = 224)
    {
        ModelProto model;
        using (var stream = File.OpenRead(path))
        {
            try { model = ModelProto.Parser.ParseFrom(stream); }
            catch (InvalidProtocolBufferException e) { throw new InvalidDataException($"{path}: not an ONNX model: {e.Message}", e); }
        }
        return From(model, path, new FileInfo(path).Length, imageSize);
    }

    internal static OnnxModelInfo From(ModelProto model, string path, long bytes, int imageSize = 224)
    {
        var graph = model.Graph ?? throw new InvalidDataException($"{path}: ONNX model has no graph");
        var initializerNames = graph.Initializer.Select(i => i.Name).ToHashSet();
        var props = model.MetadataProps.ToDictionary(p => p.Key, p => p.Value);
        var types = new Dictionary<string, long>();
        foreach (var init in graph.Initializer)
        {
            var type = TypeName(init.DataType);
            types[type] = types.GetValueOrDefault(type) + ElementCount(init.Dims);
        }
        ModelMetadata metadata;
        try { metadata = ModelMetadata.FromProperties(props); }
        catch (Exception e) when (e is FormatException or System.Text.Json.JsonException)
        {
            throw new InvalidDataException($"{path}: unreadable convnext_batch metadata: {e.Message}", e);
        }
        return new OnnxModelInfo
        {
            Path = path,
            FileBytes = bytes,
            Parameters = graph.Initializer.Sum(i => ElementCount(i.Dims)),
            Macs = ShapeWalk.Macs(graph, imageSize),
            MacsImageSize = imageSize,
            Opset = model.OpsetImport.Where(o => string.IsNullOrEmpty(o.Domain) || o.Domain == "ai.onnx").Select(o => o.Version).DefaultIfEmpty(0).Max(),
            IrVersion = model.IrVersion,
            Producer = string.IsNullOrEmpty(model.ProducerName) ? null : $"{model.ProducerName} {model.ProducerVersion}".Trim(),
            // Initializers listed as inputs (older exporters) are weights, not inputs.
            Inputs = graph.Input.Where(i => !initializerNames.Contains(i.Name)).Select(Describe).ToList(),
            Outputs = graph.Output.Select(Describe).ToList(),
            Properties = props,
            Metadata = metadata,
            ParameterTypes = types,
        };
    }

    internal static long ElementCount(IEnumerable<long> dims) => dims.Aggregate(1L, (a, d) => a * d);

    internal static string TypeName(int dataType) => (DataType)dataType switch
    {
        DataType.Float => "float32",
        DataType.Float16 => "float16",
        DataType.Bfloat16 => "bfloat16",
        DataType.Double => "float64",
        DataType.Int8 => "int8",
        DataType.Uint8 => "uint8",
        DataType.Int32 => "int32",
        DataType.Int64 => "int64",
        DataType.Bool => "bool",
        var other => other.ToString().ToLowerInvariant(),
    };

    private static OnnxTensorInfo Describe(ValueInfoProto value)
    {
        var tensor = value.Type?.TensorType;
        var dims = tensor?.Shape?.Dim.Select(d =>
            d.ValueCase == TensorShapeProto.Types.Dimension.ValueOneofCase.DimValue ? d.DimValue.ToString()
            : d.ValueCase == TensorShapeProto.Types.Dimension.ValueOneofCase.DimParam ? d.DimParam : "?").ToList() ?? [];
        return new OnnxTensorInfo(value.Name, tensor is null ? "?" : TypeName(tensor.ElemType), dims);
    }
}
