using ConvNeXt.Batch.Scoring.Importers;
using ConvNeXt.Batch.Scoring.Models;
using ConvNeXt.Batch.Scoring.Onnx;
using ConvNeXt.Batch.Scoring.Onnx.Proto;

namespace ConvNeXt.Batch.Scoring.Tests.Models;

public class ConvNeXtSpecTests
{
    // DESIGN.md's table, written out independently of ConvNeXtSpec.All.
    public static TheoryData<string, int[], int[], long> Table => new()
    {
        { "atto", [2, 2, 6, 2], [40, 80, 160, 320], 3_695_520 },
        { "femto", [2, 2, 6, 2], [48, 96, 192, 384], 5_217_784 },
        { "pico", [2, 2, 6, 2], [64, 128, 256, 512], 9_045_672 },
        { "nano", [2, 2, 8, 2], [80, 160, 320, 640], 15_593_560 },
        { "tiny", [3, 3, 9, 3], [96, 192, 384, 768], 28_589_128 },
        { "small", [3, 3, 27, 3], [96, 192, 384, 768], 50_223_688 },
        { "base", [3, 3, 27, 3], [128, 256, 512, 1024], 88_591_464 },
        { "large", [3, 3, 27, 3], [192, 384, 768, 1536], 197_767_336 },
        { "xlarge", [3, 3, 27, 3], [256, 512, 1024, 2048], 350_196_968 },
    };

    [Theory]
    [MemberData(nameof(Table))]
    public void Spec_matches_the_published_table(string name, int[] depths, int[] dims, long parameters)
    {
        var spec = ConvNeXtSpec.Find(name);
        Assert.Equal(depths, spec.Depths);
        Assert.Equal(dims, spec.Dims);
        Assert.Equal(parameters, spec.ParameterCount(1000));
        Assert.Equal("convnext_" + name, spec.Architecture);
        Assert.Same(spec, ConvNeXtSpec.Find("convnext_" + name.ToUpperInvariant()));
    }

    /// <summary>
    /// Counts the initializer elements of the graph the builder really produces. Tensors of equal
    /// length share one zero buffer, which the builder encodes once, so xlarge stays cheap.
    /// </summary>
    [Theory]
    [MemberData(nameof(Table))]
    public void Built_graph_has_exactly_the_table_parameter_count(string name, int[] depths, int[] dims, long parameters)
    {
        _ = (depths, dims);
        var spec = ConvNeXtSpec.Find(name);
        var weights = SharedZeroWeights(spec, 1000);

        var model = ConvNeXtOnnxBuilder.BuildModel(weights, new ModelBuildOptions());

        Assert.Equal(parameters, model.Graph.Initializer.Sum(i => i.Dims.Aggregate(1L, (a, d) => a * d)));
        Assert.All(model.Graph.Initializer, i => Assert.Equal(4 * i.Dims.Aggregate(1L, (a, d) => a * d), i.RawData.Length));
        Assert.Equal(parameters, OnnxModelInfo.From(model, name, 0).Parameters);
    }

    [Fact]
    public void Unknown_variant_is_rejected_with_the_known_names()
    {
        var e = Assert.Throws<ArgumentException>(() => ConvNeXtSpec.Find("huge"));
        Assert.Contains("tiny", e.Message);
    }

    [Fact]
    public void Shape_of_a_known_variant_maps_to_its_name_and_others_to_a_custom_name()
    {
        Assert.Equal("tiny", ConvNeXtSpec.FromShape([3, 3, 9, 3], [96, 192, 384, 768]).Name);
        var custom = ConvNeXtSpec.FromShape([1, 1, 2, 1], [8, 16, 32, 64]);
        Assert.Equal("convnext_custom_d1-1-2-1_c8-16-32-64", custom.Architecture);
        Assert.Equal(ConvNeXtWeights.Layout(custom, 10).Sum(l => l.Shape.Aggregate(1L, (a, d) => a * d)), custom.ParameterCount(10));
    }

    internal static ConvNeXtWeights SharedZeroWeights(ConvNeXtSpec spec, int classes)
    {
        var buffers = new Dictionary<int, float[]>();
        var tensors = ConvNeXtWeights.Layout(spec, classes).ToDictionary(
            l => l.Name,
            l =>
            {
                var length = l.Shape.Aggregate(1, (a, d) => a * d);
                if (!buffers.TryGetValue(length, out var data))
                    buffers[length] = data = new float[length];
                return new WeightTensor(l.Shape, data);
            });
        return new ConvNeXtWeights(spec, classes, tensors, sourceFormat: null, sha256: null, trained: false);
    }
}
