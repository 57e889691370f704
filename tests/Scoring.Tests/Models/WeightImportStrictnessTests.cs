using ConvNeXt.Batch.Scoring.Importers;
using ConvNeXt.Batch.Scoring.Importers.MindSporeProto;
using ConvNeXt.Batch.Scoring.Models;
using Google.Protobuf;

namespace ConvNeXt.Batch.Scoring.Tests.Models;

public sealed class WeightImportStrictnessTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("convnext-import-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private string WriteEdited(string source, Func<List<SafetensorsWriter.Entry>, IEnumerable<SafetensorsWriter.Entry>> edit, string name = "edited.safetensors")
    {
        var path = Path.Combine(_dir, name);
        SafetensorsWriter.Write(path, edit(SafetensorsWriter.ReadAll(Golden.Mini.File(source))));
        return path;
    }

    [Theory]
    [InlineData("timm.safetensors", "stages.2.blocks.1.norm.weight")]
    [InlineData("torchvision.safetensors", "features.5.1.block.2.weight")]
    [InlineData("hf.safetensors", "convnext.encoder.stages.2.layers.1.layernorm.weight")]
    [InlineData("timm.safetensors", "head.fc.bias")]
    [InlineData("timm.safetensors", "stages.3.downsample.1.weight")]
    public void Missing_tensor_is_an_error_naming_it(string file, string tensor)
    {
        var path = WriteEdited(file, entries => entries.Where(e => e.Name != tensor));
        var e = Assert.Throws<WeightImportException>(() => WeightImporter.Load(path));
        Assert.Contains(tensor, e.Message);
        Assert.Equal(tensor, e.TensorName);
    }

    [Theory]
    [InlineData("timm.safetensors", "stages.1.blocks.0.conv_dw.weight")]
    [InlineData("torchvision.safetensors", "features.3.0.block.3.weight")]
    [InlineData("hf.safetensors", "convnext.encoder.stages.0.layers.0.layer_scale_parameter")]
    public void Wrong_shape_is_an_error_naming_the_tensor(string file, string tensor)
    {
        // Same element count, different shape: only a shape check can catch it.
        var path = WriteEdited(file, entries => entries.Select(e =>
            e.Name == tensor ? e with { Shape = [e.Shape.Aggregate(1, (a, d) => a * d), 1] } : e));
        var e = Assert.Throws<WeightImportException>(() => WeightImporter.Load(path));
        Assert.Contains(tensor, e.Message);
        Assert.Contains("shape", e.Message);
    }

    [Fact]
    public void Unknown_tensor_is_an_error_naming_it()
    {
        var path = WriteEdited("timm.safetensors", entries =>
            entries.Append(new SafetensorsWriter.Entry("stages.0.blocks.0.extra_scale", "F32", [8], new byte[32])));
        var e = Assert.Throws<WeightImportException>(() => WeightImporter.Load(path));
        Assert.Contains("stages.0.blocks.0.extra_scale", e.Message);
    }

    [Fact]
    public void Extra_block_beyond_the_requested_spec_is_rejected()
    {
        var e = Assert.Throws<WeightImportException>(() =>
            WeightImporter.Load(Golden.Mini.File("timm.safetensors"), WeightFormat.Timm, ConvNeXtSpec.Find("atto")));
        Assert.Contains("convnext_atto", e.Message);
    }

    [Fact]
    public void Tensors_of_another_format_are_unknown_names()
    {
        var e = Assert.Throws<WeightImportException>(() =>
            WeightImporter.Load(Golden.Mini.File("torchvision.safetensors"), WeightFormat.HuggingFace));
        Assert.StartsWith("unknown tensor 'features.", e.Message);
    }

    [Fact]
    public void MindSpore_checkpoint_skips_optimizer_state_but_rejects_unknown_tensors()
    {
        var checkpoint = Checkpoint.Parser.ParseFrom(File.ReadAllBytes(Golden.Mini.File("mindcv.ckpt")));
        Assert.Contains(checkpoint.Value, v => v.Tag.StartsWith("adam_m.", StringComparison.Ordinal));
        Assert.Contains(checkpoint.Value, v => v.Tag == "global_step");

        checkpoint.Value.Add(new Checkpoint.Types.Value
        {
            Tag = "feature.1.0.se.weight",
            Tensor = new TensorProto { TensorType = "Float32", TensorContent = ByteString.CopyFrom(new byte[32]), Dims = { 8 } },
        });
        var path = Path.Combine(_dir, "edited.ckpt");
        File.WriteAllBytes(path, checkpoint.ToByteArray());

        var e = Assert.Throws<WeightImportException>(() => WeightImporter.Load(path));
        Assert.Contains("feature.1.0.se.weight", e.Message);
    }

    [Fact]
    public void MindSpore_checkpoint_missing_a_tensor_names_it_in_MindCV_terms()
    {
        var checkpoint = Checkpoint.Parser.ParseFrom(File.ReadAllBytes(Golden.Mini.File("mindcv.ckpt")));
        var victim = checkpoint.Value.Single(v => v.Tag == "feature.4.0.beta");
        checkpoint.Value.Remove(victim);
        var path = Path.Combine(_dir, "missing.ckpt");
        File.WriteAllBytes(path, checkpoint.ToByteArray());

        var e = Assert.Throws<WeightImportException>(() => WeightImporter.Load(path));
        Assert.Equal("feature.4.0.beta", e.TensorName);
    }

    [Fact]
    public void Not_a_checkpoint_is_a_clear_error()
    {
        var path = Path.Combine(_dir, "junk.safetensors");
        File.WriteAllBytes(path, "this is not a checkpoint at all"u8.ToArray());
        var e = Assert.Throws<WeightImportException>(() => WeightImporter.Load(path));
        Assert.Contains("safetensors", e.Message);
    }
    [Fact]
    public void Requested_spec_that_matches_is_used()
    {
        var weights = WeightImporter.Load(Golden.Atto.File("timm.safetensors"), WeightFormat.Timm, ConvNeXtSpec.Find("convnext_atto"));
        Assert.Same(ConvNeXtSpec.Find("atto"), weights.Spec);
        // timm stores atto's MLP as 1x1 convs; the canonical weights are 2-D.
        Assert.Equal([160, 40], weights["stages.0.blocks.0.mlp.fc1.weight"].Shape);
    }

    [Fact]
    public void Trailing_unit_dims_are_accepted_only_where_a_format_uses_them()
    {
        var path = WriteEdited("timm.safetensors", entries => entries.Select(e =>
            e.Name == "stages.0.blocks.0.norm.weight" ? e with { Shape = [.. e.Shape, 1, 1] } : e));
        var e = Assert.Throws<WeightImportException>(() => WeightImporter.Load(path));
        Assert.Equal("stages.0.blocks.0.norm.weight", e.TensorName);
    }

    [Fact]
    public void Integer_tensor_is_an_error_naming_it()
    {
        var path = WriteEdited("timm.safetensors", entries => entries.Select(e =>
            e.Name == "head.fc.bias" ? e with { DType = "I32" } : e));
        var e = Assert.Throws<WeightImportException>(() => WeightImporter.Load(path));
        Assert.Equal("head.fc.bias", e.TensorName);
        Assert.Contains("I32", e.Message);
    }
}
