using ConvNeXt.Batch.Scoring.Importers;
using ConvNeXt.Batch.Scoring.Labels;
using ConvNeXt.Batch.Scoring.Models;
using ConvNeXt.Batch.Scoring.Onnx;
using ConvNeXt.Batch.Scoring.Preprocessing;
using Microsoft.ML.OnnxRuntime;

namespace ConvNeXt.Batch.Scoring.Tests.Models;

/// <summary>Builds the golden atto model once (with labels) and reads it back in several ways.</summary>
public sealed class AttoModelFile : IDisposable
{
    public AttoModelFile()
    {
        Weights = WeightImporter.Load(Golden.Atto.File("timm.safetensors"));
        Labels = ClassLabels.Load(Repository.LabelsFile);
        Path = System.IO.Path.Combine(System.IO.Path.GetTempPath(), $"convnext-atto-{Guid.NewGuid():N}.onnx");
        ConvNeXtOnnxBuilder.BuildToFile(Weights, new ModelBuildOptions { Labels = Labels }, Path);
    }

    public ConvNeXtWeights Weights { get; }
    public ClassLabels Labels { get; }
    public string Path { get; }

    public void Dispose() => File.Delete(Path);
}

public class OnnxModelInfoTests(AttoModelFile model) : IClassFixture<AttoModelFile>
{
    [Fact]
    public void Metadata_round_trips_through_the_built_file()
    {
        var info = OnnxModelInfo.Read(model.Path);
        var m = info.Metadata;

        Assert.Equal("convnext_atto", m.Architecture);
        var timm = PreprocessingSettings.Timm();
        Assert.NotNull(m.Preprocessing);
        // Records compare arrays by reference: compare the scalars, then the arrays' contents.
        Assert.Equal(timm, m.Preprocessing with { Mean = timm.Mean, Std = timm.Std });
        Assert.Equal(timm.Mean, m.Preprocessing.Mean);
        Assert.Equal(timm.Std, m.Preprocessing.Std);
        Assert.Equal("timm", m.WeightsFormat);
        Assert.Equal(Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(File.ReadAllBytes(Golden.Atto.File("timm.safetensors")))), m.WeightsSha256);
        Assert.True(m.Trained);
        Assert.Equal("fp32", m.Precision);
        Assert.Equal(1000, m.Labels!.Count);
        Assert.Equal("n01440764", m.Labels[0].Wnid);
        Assert.Equal(model.Labels[999], m.Labels[999]);
    }

    [Fact]
    public void Onnx_runtime_sees_the_same_metadata_and_signature()
    {
        using var session = new InferenceSession(model.Path);
        var custom = session.ModelMetadata.CustomMetadataMap;
        Assert.Equal("convnext_atto", custom[Scoring.Models.ModelMetadata.ArchitectureKey]);
        Assert.Equal("true", custom[Scoring.Models.ModelMetadata.TrainedKey]);

        var input = Assert.Single(session.InputMetadata);
        Assert.Equal("pixel_values", input.Key);
        Assert.Equal(typeof(float), input.Value.ElementType);
        Assert.Equal([-1, 3, -1, -1], input.Value.Dimensions);
        Assert.Equal("batch", input.Value.SymbolicDimensions[0]);
        var output = Assert.Single(session.OutputMetadata);
        Assert.Equal("logits", output.Key);
        Assert.Equal([-1, 1000], output.Value.Dimensions);
    }

    [Fact]
    public void Info_reports_parameters_macs_opset_and_signature()
    {
        var info = OnnxModelInfo.Read(model.Path);

        Assert.Equal(3_695_520, info.Parameters);
        Assert.Equal(3_695_520, info.ParameterTypes["float32"]);
        Assert.Equal(ConvNeXtOnnxBuilder.Opset, info.Opset);
        Assert.True(info.Opset >= 17);
        Assert.Equal("pixel_values: float32[batch, 3, height, width]", Assert.Single(info.Inputs).ToString());
        Assert.Equal("logits: float32[batch, 1000]", Assert.Single(info.Outputs).ToString());
        Assert.Equal(ExpectedMacs(model.Weights.Spec, 1000, 224), info.Macs);
        Assert.InRange(info.Macs!.Value, 0.5e9, 0.6e9); // timm lists convnext_atto at 0.55 GMACs
        Assert.Equal(ExpectedMacs(model.Weights.Spec, 1000, 288), OnnxModelInfo.Read(model.Path, 288).Macs);
    }

    [Fact]
    public void Fp16_file_reports_fp16_precision_and_parameters()
    {
        var path = model.Path + ".fp16.onnx";
        try
        {
            ConvNeXtOnnxBuilder.BuildToFile(model.Weights, new ModelBuildOptions { Precision = ModelPrecision.Fp16 }, path);
            var info = OnnxModelInfo.Read(path);
            Assert.Equal("fp16", info.Metadata.Precision);
            Assert.Equal(3_695_520, info.ParameterTypes["float16"]);
            Assert.Equal("pixel_values: float32[batch, 3, height, width]", Assert.Single(info.Inputs).ToString());
            Assert.Equal("logits: float32[batch, 1000]", Assert.Single(info.Outputs).ToString());
            Assert.Equal(ExpectedMacs(model.Weights.Spec, 1000, 224), info.Macs);
        }
        finally { File.Delete(path); }
    }

    [Fact]
    public void Foreign_model_is_read_without_project_metadata()
    {
        var info = OnnxModelInfo.Read(Repository.SqueezeNet);
        Assert.Null(info.Metadata.Architecture);
        Assert.InRange(info.Parameters, 1_200_000, 1_300_000); // SqueezeNet 1.1: 1.24 M parameters
        Assert.NotEmpty(info.Inputs);
        Assert.NotEmpty(info.Outputs);
        Assert.InRange(info.Macs!.Value, 0.3e9, 0.4e9); // SqueezeNet 1.1: ≈ 0.35 GMACs at 224
        Assert.Equal("float16", info.ParameterTypes.Keys.Single());
    }

    [Fact]
    public void Labels_of_the_wrong_count_are_refused()
    {
        var labels = ClassLabels.Parse(["n01440764 tench"]);
        Assert.Throws<ArgumentException>(() => ConvNeXtOnnxBuilder.Build(model.Weights, new ModelBuildOptions { Labels = labels }));
    }

    /// <summary>
    /// Builds files from trained-looking weights (a real checkpoint file of the right shape) and reads
    /// the published accuracy back from each file: the table is checked through the product, not copied.
    /// </summary>
    [Theory]
    [InlineData("mindspore", "tiny", 81.91, 95.79)]
    [InlineData("torchvision", "tiny", 82.52, 96.146)]
    [InlineData("mindspore", "base", 83.32, 96.24)]
    public void Published_accuracy_is_read_back_from_a_built_file(string format, string variant, double top1, double top5)
    {
        var spec = ConvNeXtSpec.Find(variant);
        var weights = ConvNeXtSpecTests.SharedZeroWeights(spec, 1000);
        var trained = new ConvNeXtWeights(spec, 1000, weights.Tensors,
            format == "mindspore" ? WeightFormat.MindSpore : WeightFormat.Torchvision, sha256: new string('a', 64));
        var path = System.IO.Path.Combine(System.IO.Path.GetTempPath(), $"convnext-acc-{Guid.NewGuid():N}.onnx");
        try
        {
            ConvNeXtOnnxBuilder.BuildToFile(trained, new ModelBuildOptions(), path);
            var reference = OnnxModelInfo.Read(path).Metadata.ReferenceAccuracy;
            Assert.NotNull(reference);
            Assert.Equal((top1, top5), (reference.Top1, reference.Top5!.Value));
            Assert.Contains(variant, reference.Source, StringComparison.OrdinalIgnoreCase);
        }
        finally { File.Delete(path); }
    }

    [Fact]
    public void No_accuracy_is_claimed_for_untrained_or_unpublished_weights_and_a_given_one_wins()
    {
        var info = OnnxModelInfo.Read(model.Path); // golden atto: timm names, 1000 classes, no published figure
        Assert.Null(info.Metadata.ReferenceAccuracy);
        Assert.Equal(ModelOutputKind.Logits, info.Metadata.Output);
        Assert.Equal(3_695_520, info.Metadata.Parameters);

        var custom = new ReferenceAccuracy(75.0, 92.5, "own run");
        var path = System.IO.Path.Combine(System.IO.Path.GetTempPath(), $"convnext-acc-{Guid.NewGuid():N}.onnx");
        try
        {
            ConvNeXtOnnxBuilder.BuildToFile(model.Weights, new ModelBuildOptions { ReferenceAccuracy = custom }, path);
            Assert.Equal(custom, OnnxModelInfo.Read(path).Metadata.ReferenceAccuracy);
        }
        finally { File.Delete(path); }
        Assert.Equal(PreprocessingSettings.MindCv().ResizeShorter, ConvNeXtOnnxBuilder.DefaultPreprocessing(WeightFormat.MindSpore).ResizeShorter);
        Assert.Equal(Interpolation.Bilinear, ConvNeXtOnnxBuilder.DefaultPreprocessing(WeightFormat.Torchvision).Interpolation);
    }

    /// <summary>MACs of ConvNeXt for one image, from the architecture (independent of the graph).</summary>
    private static long ExpectedMacs(ConvNeXtSpec spec, int classes, int size)
    {
        long r = size / 4;
        long macs = r * r * spec.Dims[0] * 3 * 16;
        for (var s = 0; s < spec.StageCount; s++)
        {
            long c = spec.Dims[s];
            if (s > 0)
            {
                r /= 2;
                macs += r * r * c * spec.Dims[s - 1] * 4;
            }
            macs += spec.Depths[s] * r * r * (49 * c + 8 * c * c);
        }
        return macs + (long)spec.Dims[^1] * classes;
    }
}
