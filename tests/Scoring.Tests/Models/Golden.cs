namespace ConvNeXt.Batch.Scoring.Tests.Models;

/// <summary>The reference checkpoints with their input and float64 logits (../shared/reference).</summary>
internal sealed record Golden(string Folder, int[] InputShape, float[] Input, float[] Logits, int Classes)
{
    public static Golden Mini { get; } = Load("golden-mini");
    public static Golden Atto { get; } = Load("golden-atto");
    public static Golden InceptionNeXtMini { get; } = Load("golden-inceptionnext-mini");

    public string File(string name) => Repository.Reference(Folder, name);

    private static Golden Load(string folder)
    {
        Repository.RequireShared();
        var (shape, input) = Npy.Read(Repository.Reference(folder, "input.npy"));
        var (logitShape, logits) = Npy.Read(Repository.Reference(folder, "logits.npy"));
        return new Golden(folder, shape, input, logits, logitShape[1]);
    }
}
