namespace ConvNeXt.Batch.Scoring.Importers;

/// <summary>Naming scheme and container of a ConvNeXt checkpoint.</summary>
public enum WeightFormat
{
    /// <summary>Decide from the file: a <c>.ckpt</c> is MindSpore, a safetensors file by its tensor names.</summary>
    Auto,
    /// <summary>timm safetensors (<c>stem.*</c>, <c>stages.S.blocks.J.*</c>, <c>head.*</c>).</summary>
    Timm,
    /// <summary>torchvision safetensors (<c>features.*</c>, <c>classifier.*</c>).</summary>
    Torchvision,
    /// <summary>Hugging Face transformers safetensors (<c>convnext.*</c>, <c>classifier.*</c>).</summary>
    HuggingFace,
    /// <summary>MindSpore <c>.ckpt</c> with MindCV names (<c>feature.*</c>, <c>norm.*</c>, <c>classifier.*</c>).</summary>
    MindSpore,
}

public static class WeightFormatNames
{
    /// <summary>The name recorded in model metadata: timm, torchvision, hf or mindspore.</summary>
    public static string MetadataName(this WeightFormat format) => format switch
    {
        WeightFormat.Timm => "timm",
        WeightFormat.Torchvision => "torchvision",
        WeightFormat.HuggingFace => "hf",
        WeightFormat.MindSpore => "mindspore",
        _ => throw new ArgumentOutOfRangeException(nameof(format), format, "not a concrete weight format"),
    };
}
