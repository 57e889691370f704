using System.Buffers.Binary;
using ConvNeXt.Batch.Scoring.Importers;
using ConvNeXt.Batch.Scoring.Models;
using ConvNeXt.Batch.Scoring.Onnx;
using ConvNeXt.Batch.Scoring.Preprocessing;
using Xunit.Abstractions;
using static ConvNeXt.Batch.Scoring.Onnx.InceptionNeXtOnnxBuilder;

namespace ConvNeXt.Batch.Scoring.Tests.Models;

public class InceptionNeXtTests(ITestOutputHelper output)
{
    private const double Tolerance = 1e-4;

    // The (timm's) figures, written out independently of InceptionNeXtSpec.All.
    public static TheoryData<string, int[], int[], long> Table => new()
    {
        { "inception_next_tiny", [3, 3, 9, 3], [96, 192, 384, 768], 28_055_680 },
        { "inception_next_small", [3, 3, 27, 3], [96, 192, 384, 768], 49_374_016 },
        { "inception_next_base", [3, 3, 27, 3], [128, 256, 512, 1024], 86_672_136 },
        { "inception_next_base_384", [3, 3, 27, 3], [128, 256, 512, 1024], 86_672_136 },
    };

    public static TheoryData<InceptionMixerLayout, InceptionChannelLayout> Layouts => new()
    {
        { InceptionMixerLayout.Branches, InceptionChannelLayout.ChannelsFirst },
        { InceptionMixerLayout.Branches, InceptionChannelLayout.ChannelsLast },
        { InceptionMixerLayout.MergedKernel, InceptionChannelLayout.ChannelsFirst },
        { InceptionMixerLayout.MergedKernel, InceptionChannelLayout.ChannelsLast },
    };

    [Theory]
    [MemberData(nameof(Table))]
    public void Spec_and_random_weights_have_the_published_parameter_count(string id, int[] depths, int[] dims, long parameters)
    {
        var spec = InceptionNeXtSpec.Find(id);
        Assert.Equal(depths, spec.Depths);
        Assert.Equal(dims, spec.Dims);
        Assert.Equal([4, 4, 4, 3], spec.MlpRatios);
        Assert.Equal(parameters, spec.ParameterCount(1000));
        Assert.Equal(parameters, RandomWeights.Create(spec, 1000, seed: 1).ParameterCount);
        Assert.Same(spec, InceptionNeXtSpec.Find(id.ToUpperInvariant()));
    }

    [Fact]
    public void Variant_rows_carry_timm_preprocessing_and_the_paper_accuracy()
    {
        var tiny = InceptionNeXtSpec.Find("tiny");
        Assert.Equal((256, 224, Interpolation.Bicubic), (tiny.Preprocessing.ResizeShorter, tiny.Preprocessing.CropHeight, tiny.Preprocessing.Interpolation));
        Assert.Equal(235, InceptionNeXtSpec.Find("base").Preprocessing.ResizeShorter); // floor(224 / 0.95)
        var b384 = InceptionNeXtSpec.Find("inception_next_base.sail_in1k_384");
        Assert.Equal("base_384", b384.Name);
        Assert.Equal("inception_next_base", b384.Architecture);
        Assert.Equal((384, 384), (b384.Preprocessing.ResizeShorter, b384.Preprocessing.CropHeight));
        Assert.Equal([82.3, 83.5, 84.0, 85.2], InceptionNeXtSpec.All.Select(s => s.PublishedAccuracy!.Top1));
        Assert.All(InceptionNeXtSpec.All, s => Assert.Null(s.PublishedAccuracy!.Top5));
        Assert.False(InceptionNeXtSpec.TryFind("inception_next_huge", out _));
    }

    [Fact]
    public void Reference_implementation_reproduces_the_golden_logits()
    {
        // Proves the test's own reference before it is used as the judge of a full-size model.
        var golden = Golden.InceptionNeXtMini;
        var logits = new InceptionNeXtReference(golden.File("timm.safetensors")).Forward(golden.InputShape, golden.Input);
        var error = OnnxRunner.RelativeL2(logits, golden.Logits);
        output.WriteLine($"reference vs golden: relative L2 {error:E2}");
        Assert.True(error <= 1e-6, $"relative L2 {error:E3}");
    }

    [Theory]
    [MemberData(nameof(Layouts))]
    public void Golden_mini_checkpoint_reproduces_reference_logits(InceptionMixerLayout mixer, InceptionChannelLayout channels)
    {
        var golden = Golden.InceptionNeXtMini;
        var path = golden.File("timm.safetensors");
        Assert.True(InceptionNeXtImporter.IsInceptionNeXt(path));
        Assert.False(InceptionNeXtImporter.IsInceptionNeXt(Golden.Mini.File("timm.safetensors")));
        var weights = InceptionNeXtImporter.Load(path);

        Assert.Equal([1, 1, 2, 1], weights.Spec.Depths);
        Assert.Equal([32, 64, 128, 256], weights.Spec.Dims);
        Assert.Equal(10, weights.Classes);
        Assert.Equal(WeightFormat.Timm, weights.SourceFormat);

        var logits = OnnxRunner.Run(Build(weights, layout: new GraphLayout(mixer, channels)), golden.InputShape, golden.Input);
        var error = OnnxRunner.RelativeL2(logits, golden.Logits);
        output.WriteLine($"{mixer}/{channels}: relative L2 {error:E2}");
        Assert.True(error <= Tolerance, $"relative L2 error {error:E3} > {Tolerance}");
    }

    [Fact]
    public void Convnext_importer_names_inception_next_weights_instead_of_failing_on_a_tensor()
    {
        var e = Assert.Throws<WeightImportException>(() => WeightImporter.Load(Golden.InceptionNeXtMini.File("timm.safetensors")));
        Assert.Contains("InceptionNeXt", e.Message);
    }

    [Fact]
    public void Import_is_strict_about_missing_tensors_and_requested_variants()
    {
        var golden = Golden.InceptionNeXtMini;
        var entries = SafetensorsWriter.ReadAll(golden.File("timm.safetensors"));
        var path = Path.Combine(Path.GetTempPath(), $"inext-{Guid.NewGuid():N}.safetensors");
        try
        {
            SafetensorsWriter.Write(path, entries.Where(e => e.Name != "stages.2.blocks.1.token_mixer.dwconv_w.bias"));
            var missing = Assert.Throws<WeightImportException>(() => InceptionNeXtImporter.Load(path));
            Assert.Equal("stages.2.blocks.1.token_mixer.dwconv_w.bias", missing.TensorName);
        }
        finally { File.Delete(path); }
        var wrong = Assert.Throws<WeightImportException>(() => InceptionNeXtImporter.Load(golden.File("timm.safetensors"), InceptionNeXtSpec.Find("tiny")));
        Assert.Contains("but inception_next_tiny (depths 3,3,9,3", wrong.Message);
    }

    /// <summary>
    /// The full-size tiny network with every tensor randomized (BatchNorm statistics and layer scales
    /// included, so each layer moves the logits), written as a timm file, imported, folded, run by ONNX
    /// Runtime, and compared with the unfused float64 reference.
    /// </summary>
    [Fact]
    public void Full_size_tiny_agrees_with_the_independent_reference()
    {
        var spec = InceptionNeXtSpec.Find("tiny");
        var path = Path.Combine(Path.GetTempPath(), $"inext-tiny-{Guid.NewGuid():N}.safetensors");
        var onnx = Path.ChangeExtension(path, ".onnx");
        try
        {
            WriteRandomizedCheckpoint(spec, path, seed: 11);
            var weights = InceptionNeXtImporter.Load(path);
            Assert.Same(spec, weights.Spec);
            Assert.Equal(28_055_680, weights.ParameterCount);

            InceptionNeXtOnnxBuilder.BuildToFile(weights, new ModelBuildOptions(), onnx);
            var info = OnnxModelInfo.Read(onnx);
            Assert.Equal(28_055_680, info.Metadata.Parameters);
            Assert.True(info.Parameters < 28_055_680, "BatchNorm and layer scale are folded away");
            Assert.Equal(ModelOutputKind.Logits, info.Metadata.Output);
            Assert.Equal(82.3, info.Metadata.ReferenceAccuracy!.Top1);
            Assert.Equal(256, info.Metadata.Preprocessing!.ResizeShorter);
            // 4.2 GMACs in the paper; the folded graph does the architecture's work and no more.
            Assert.InRange(info.Macs!.Value, 4.15e9, 4.25e9);

            int[] shape = [1, 3, 128, 128];
            var input = Input(shape, seed: 5);
            var expected = new InceptionNeXtReference(path).Forward(shape, input);
            var actual = OnnxRunner.Run(File.ReadAllBytes(onnx), shape, input);
            var error = OnnxRunner.RelativeL2(actual, expected);
            output.WriteLine($"full-size tiny, folded graph vs float64 reference: relative L2 {error:E2}");
            Assert.True(error <= Tolerance, $"relative L2 error {error:E3} > {Tolerance}");
            Assert.Equal(OnnxRunner.ArgMaxRows(expected, 1000), OnnxRunner.ArgMaxRows(actual, 1000));
        }
        finally
        {
            File.Delete(path);
            File.Delete(onnx);
        }
    }

    [Fact]
    public void Folded_graph_has_no_batch_norm_and_random_weights_are_untrained()
    {
        var weights = RandomWeights.Create(InceptionNeXtSpec.Find("tiny"), 1000, seed: 2);
        var model = BuildModel(weights, new ModelBuildOptions(), new GraphLayout());
        Assert.DoesNotContain(model.Graph.Node, n => n.OpType == "BatchNormalization");
        Assert.Equal(18 * 3, model.Graph.Node.Count(n => n.OpType == "Conv" && n.Attribute.Any(a => a.Name == "group" && a.I > 1)));
        var metadata = Metadata(weights, new ModelBuildOptions());
        Assert.False(metadata.Trained);
        Assert.Null(metadata.ReferenceAccuracy);
        Assert.Equal("inception_next_tiny", metadata.Architecture);
    }

    private static float[] Input(int[] shape, int seed)
    {
        var rng = new Random(seed);
        return Enumerable.Range(0, shape.Aggregate(1, (a, d) => a * d)).Select(_ => (float)(rng.NextDouble() * 4 - 2)).ToArray();
    }

    /// <summary>Values drawn as the golden reference's README describes its own.</summary>
    internal static void WriteRandomizedCheckpoint(InceptionNeXtSpec spec, string path, int seed)
    {
        var rng = new Random(seed);
        double Normal() => Math.Sqrt(-2 * Math.Log(1 - rng.NextDouble())) * Math.Cos(2 * Math.PI * rng.NextDouble());
        var entries = new List<SafetensorsWriter.Entry>();
        foreach (var (name, shape) in InceptionNeXtWeights.Layout(spec, 1000))
        {
            var count = shape.Aggregate(1, (a, d) => a * d);
            var fanIn = shape.Length > 1 ? count / shape[0] : 1;
            var isNorm = name.StartsWith("stem.1.", StringComparison.Ordinal) || name.Contains(".norm.", StringComparison.Ordinal) || name.Contains(".downsample.0.", StringComparison.Ordinal);
            Func<double> draw = name.EndsWith(".gamma", StringComparison.Ordinal) ? () => 0.2 + 0.8 * rng.NextDouble()
                : name.EndsWith(".running_var", StringComparison.Ordinal) ? () => 0.5 + rng.NextDouble()
                : isNorm && name.EndsWith(".weight", StringComparison.Ordinal) ? () => 0.5 + rng.NextDouble()
                : name.EndsWith(".weight", StringComparison.Ordinal) ? () => Normal() / Math.Sqrt(fanIn)
                : () => 0.1 * Normal();
            var bytes = new byte[4 * count];
            for (var i = 0; i < count; i++)
                BinaryPrimitives.WriteSingleLittleEndian(bytes.AsSpan(4 * i), (float)draw());
            entries.Add(new SafetensorsWriter.Entry(name, "F32", shape, bytes));
            if (name.EndsWith(".running_var", StringComparison.Ordinal))
                entries.Add(new SafetensorsWriter.Entry(name.Replace(".running_var", ".num_batches_tracked"), "I64", [], new byte[8]));
        }
        SafetensorsWriter.Write(path, entries);
    }
}
