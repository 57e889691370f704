using ConvNeXt.Batch.Scoring.Importers.MindSporeProto;
using Google.Protobuf;

namespace ConvNeXt.Batch.Scoring.Importers;

/// <summary>
/// Reads a MindSpore <c>.ckpt</c>: a protobuf <c>Checkpoint</c> of (tag, tensor) pairs, tensor data
/// little-endian in <c>tensor_content</c>. Training checkpoints also carry optimizer state and
/// counters, which are no part of the model and are skipped here.
/// </summary>
internal static class MindSporeCheckpoint
{
    private static readonly string[] TrainingStatePrefixes =
        ["adam_m.", "adam_v.", "moments.", "accum.", "mean_grad.", "mean_square.", "moment1.", "moment2.", "vhat."];

    private static readonly HashSet<string> TrainingCounters = new(StringComparer.Ordinal)
    {
        "global_step", "learning_rate", "beta1_power", "beta2_power", "epoch_num", "step_num",
        "scale_sense", "loss_scale", "current_iterator_step", "last_overflow_iterator_step", "momentum", "weight_decay",
    };

    public static bool IsTrainingState(string name) =>
        TrainingCounters.Contains(name) || TrainingStatePrefixes.Any(p => name.StartsWith(p, StringComparison.Ordinal));

    public static IReadOnlyList<RawTensor> Read(string path)
    {
        Checkpoint checkpoint;
        try
        {
            using var stream = File.OpenRead(path);
            checkpoint = Checkpoint.Parser.ParseFrom(stream);
        }
        catch (InvalidProtocolBufferException e)
        {
            throw new WeightImportException($"{path}: not a MindSpore checkpoint: {e.Message}", null, e);
        }
        var tensors = new List<RawTensor>();
        foreach (var value in checkpoint.Value)
        {
            var name = value.Tag;
            if (IsTrainingState(name))
                continue;
            var tensor = value.Tensor ?? throw new WeightImportException($"tensor '{name}' has no data", name);
            var shape = tensor.Dims.Select(d => checked((int)d)).ToArray();
            var content = tensor.TensorContent;
            var type = tensor.TensorType;
            tensors.Add(new RawTensor(name, shape, type, () => type switch
            {
                "Float32" => ElementConversion.FromFloat32(content.Span, name),
                "Float16" => ElementConversion.FromFloat16(content.Span, name),
                "BFloat16" => ElementConversion.FromBFloat16(content.Span, name),
                "Float64" => ElementConversion.FromFloat64(content.Span, name),
                _ => throw new WeightImportException($"tensor '{name}' has element type {type}; expected Float32, Float16, BFloat16 or Float64", name),
            }));
        }
        return tensors;
    }
}
