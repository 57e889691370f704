namespace ConvNeXt.Batch.TestSupport;

/// <summary>Paths of the repository and of the shared data folder that CI places beside it.</summary>
public static class Repository
{
    public static string Root { get; } = FindRoot();

    /// <summary><c>../shared</c> beside the checkout (read-only; never copied into the repository).</summary>
    public static string Shared { get; } = Path.GetFullPath(Path.Combine(Root, "..", "shared"));

    public static string Reference(params string[] parts) => Path.Combine([Shared, "reference", .. parts]);

    public static string Data(params string[] parts) => Path.Combine([Shared, "data", .. parts]);

    public static string ImagenetSamples => Data("imagenet-samples");

    public static string ImagenetVal100 => Data("imagenet-val100");

    public static string LabelsFile => Data("imagenet-labels", "LOC_synset_mapping.txt");

    public static string SqueezeNet => Data("squeezenet", "squeezenet1.1-fp16.onnx");

    /// <summary>Fails the test with a clear message when the shared folder is absent.</summary>
    public static void RequireShared()
    {
        if (!Directory.Exists(Path.Combine(Shared, "data")))
            throw new InvalidOperationException($"shared data folder not found at {Shared}: clone the repository beside ../shared");
    }

    private static string FindRoot()
    {
        // Tests run from their bin folder inside the checkout; a file-based program (scripts/*.cs) is built
        // outside it, so its working directory is searched too.
        foreach (var start in new[] { AppContext.BaseDirectory, Environment.CurrentDirectory })
            for (var dir = new DirectoryInfo(start); dir is not null; dir = dir.Parent)
                if (File.Exists(Path.Combine(dir.FullName, "ConvNeXt.Batch.sln")))
                    return dir.FullName;
        throw new InvalidOperationException("ConvNeXt.Batch.sln not found above " + AppContext.BaseDirectory + " or " + Environment.CurrentDirectory);
    }
}
