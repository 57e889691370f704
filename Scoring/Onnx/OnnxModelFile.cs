using ConvNeXt.Batch.Scoring.Importers;
using ConvNeXt.Batch.Scoring.Models;
using ConvNeXt.Batch.Scoring.Onnx.Proto;
using Google.Protobuf;
using DataType = ConvNeXt.Batch.Scoring.Onnx.Proto.TensorProto.Types.DataType;

namespace ConvNeXt.Batch.Scoring.Onnx;

/// <summary>The model envelope every classifier graph of this project shares, and writing it to a file.</summary>
public static class OnnxModelFile
{
    public const int Opset = 17;
    private const long IrVersion = 8;

    /// <summary>Builds the ONNX file for weights of any supported architecture family.</summary>
    public static void BuildToFile(IClassifierWeights weights, ModelBuildOptions options, string path)
    {
        switch (weights)
        {
            case ConvNeXtWeights convNeXt:
                ConvNeXtOnnxBuilder.BuildToFile(convNeXt, options, path);
                break;
            case InceptionNeXtWeights inceptionNeXt:
                InceptionNeXtOnnxBuilder.BuildToFile(inceptionNeXt, options, path);
                break;
            default:
                throw new ArgumentException($"no ONNX builder for {weights.GetType().Name}", nameof(weights));
        }
    }

    /// <summary>Wraps a graph that reads <c>pixel_values</c> and writes <c>logits</c> into a model with its metadata.</summary>
    internal static ModelProto Create(GraphProto graph, int? imageSize, int classes, string docString, ModelMetadata metadata)
    {
        graph.Input.Add(TensorValue(GraphWriter.InputName, DataType.Float,
            Dim("batch"), Dim(3), imageSize is { } h ? Dim(h) : Dim("height"), imageSize is { } w ? Dim(w) : Dim("width")));
        graph.Output.Add(TensorValue(GraphWriter.OutputName, DataType.Float, Dim("batch"), Dim(classes)));
        var model = new ModelProto
        {
            IrVersion = IrVersion,
            ProducerName = "ConvNeXt.Batch",
            ProducerVersion = typeof(OnnxModelFile).Assembly.GetName().Version?.ToString() ?? "0",
            Graph = graph,
            DocString = docString,
        };
        model.OpsetImport.Add(new OperatorSetIdProto { Domain = "", Version = Opset });
        foreach (var (key, value) in metadata.ToProperties())
            model.MetadataProps.Add(new StringStringEntryProto { Key = key, Value = value });
        return model;
    }

    /// <summary>Writes straight into the file (through a temporary name), without holding the serialised model in memory.</summary>
    internal static void Write(ModelProto model, string path)
    {
        var temp = path + ".tmp";
        using (var stream = File.Create(temp))
            model.WriteTo(stream);
        File.Move(temp, path, overwrite: true);
    }

    private static TensorShapeProto.Types.Dimension Dim(long value) => new() { DimValue = value };
    private static TensorShapeProto.Types.Dimension Dim(string name) => new() { DimParam = name };

    private static ValueInfoProto TensorValue(string name, DataType type, params TensorShapeProto.Types.Dimension[] dims)
    {
        var shape = new TensorShapeProto();
        shape.Dim.AddRange(dims);
        return new ValueInfoProto
        {
            Name = name,
            Type = new TypeProto { TensorType = new TypeProto.Types.Tensor { ElemType = (int)type, Shape = shape } },
        };
    }
}
