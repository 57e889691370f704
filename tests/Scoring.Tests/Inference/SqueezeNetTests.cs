using System.Globalization;
using ConvNeXt.Batch.Scoring.Inference;
using ConvNeXt.Batch.Scoring.Labels;
using ConvNeXt.Batch.Scoring.Preprocessing;

namespace ConvNeXt.Batch.Scoring.Tests.Inference;

public class SqueezeNetTests
{
    private static readonly PreprocessingSettings RawBgr = new()
    {
        ResizeShorter = 224, CropHeight = 224, CropWidth = 224, Interpolation = Interpolation.Bilinear,
        ChannelOrder = ChannelOrder.Bgr, PixelScale = 255f, Mean = [0f, 0f, 0f], Std = [1f, 1f, 1f],
    };

    [Fact]
    public void Fish_regression_case_matches_the_models_own_expected_softmax()
    {
        Repository.RequireShared();
        using var classifier = ImageClassifier.Load(Repository.SqueezeNet, preprocessing: RawBgr,
            labels: ClassLabels.Load(Repository.LabelsFile));
        Assert.Equal(1, classifier.FixedBatchSize);
        Assert.Equal(1000, classifier.ClassCount);
        Assert.Equal("cpu", classifier.ExecutionProvider);
        Assert.Equal("squeezenet1.1-fp16", classifier.ModelId);
        Assert.Matches("^[0-9a-f]{64}$", classifier.ModelSha256);

        var tensor = new float[RawBgr.TensorLength];
        new ImagePreprocessor(RawBgr).Preprocess(File.ReadAllBytes(Repository.Data("squeezenet", "fish.png")), tensor);
        var probabilities = classifier.Predict(tensor, 1);

        var expected = File.ReadLines(Repository.Data("squeezenet", "fish_expected_softmax.csv")).Skip(1)
            .Select(l => float.Parse(l.Split(',')[1], CultureInfo.InvariantCulture)).ToArray();
        Assert.Equal(1000, expected.Length);
        var top = classifier.TopK(probabilities, 5);
        Assert.Equal(0, top[0].Index);
        Assert.Equal("n01440764", top[0].Wnid);
        Assert.StartsWith("tench", top[0].Name);
        Assert.Equal(0.7378, top[0].Probability, 0.003);
        var maxDifference = expected.Select((e, i) => Math.Abs(e - probabilities[i])).Max();
        Assert.True(maxDifference < 0.005, $"softmax differs from the expected by up to {maxDifference}");
        Assert.Equal(1.0, probabilities.Sum(), 0.01);
    }

    [Fact]
    public void Fixed_batch_model_scores_a_larger_batch_image_by_image()
    {
        Repository.RequireShared();
        using var classifier = ImageClassifier.Load(Repository.SqueezeNet, preprocessing: PreprocessingSettings.Caffe());
        var preprocessor = new ImagePreprocessor(classifier.Preprocessing);
        var files = Directory.GetFiles(Repository.ImagenetSamples).Order(StringComparer.Ordinal).Take(3).ToArray();
        var batch = new float[files.Length * classifier.TensorLength];
        for (var i = 0; i < files.Length; i++)
            preprocessor.Preprocess(File.ReadAllBytes(files[i]), batch.AsSpan(i * classifier.TensorLength, classifier.TensorLength));

        var together = classifier.Predict(batch, files.Length);
        for (var i = 0; i < files.Length; i++)
        {
            var alone = classifier.Predict(batch.AsSpan(i * classifier.TensorLength, classifier.TensorLength), 1);
            Assert.Equal(alone, together.AsSpan(i * 1000, 1000).ToArray());
        }
    }

    [NoCudaFact]
    public void Cuda_request_fails_to_load_when_cuda_is_unavailable()
    {
        Repository.RequireShared();
        var warnings = new List<string>();
        // A named CUDA device is strict: a GPU deployment that cannot load CUDA must not score on the CPU unnoticed.
        foreach (var device in new[] { "cuda", "cuda:0", "gpu" })
        {
            var e = Assert.Throws<ExecutionProviderException>(() => ImageClassifier.Load(Repository.SqueezeNet,
                new InferenceOptions { Device = device, IntraOpThreads = 1, Warning = warnings.Add }, PreprocessingSettings.Caffe()));
            Assert.StartsWith("CUDA execution provider unavailable on cuda:0", e.Message, StringComparison.Ordinal);
            Assert.Contains("use auto", e.Message, StringComparison.Ordinal);
        }
        Assert.Empty(warnings);
    }

    [NoCudaFact]
    public void Auto_falls_back_to_cpu_with_a_warning_when_cuda_is_unavailable()
    {
        Repository.RequireShared();
        var warnings = new List<string>();
        using var classifier = ImageClassifier.Load(Repository.SqueezeNet,
            new InferenceOptions { Device = "auto", IntraOpThreads = 1, Warning = warnings.Add },
            PreprocessingSettings.Caffe());

        Assert.Equal("cpu", classifier.ExecutionProvider);
        var warning = Assert.Single(warnings);
        Assert.StartsWith("CUDA execution provider unavailable", warning, StringComparison.Ordinal);
        Assert.EndsWith("running on CPU (device auto)", warning, StringComparison.Ordinal);
        Assert.Equal(warnings, classifier.Warnings);
        // The fallback still scores: the same probabilities as a plain CPU session.
        using var cpu = ImageClassifier.Load(Repository.SqueezeNet, new InferenceOptions { IntraOpThreads = 1 }, PreprocessingSettings.Caffe());
        var tensor = new float[cpu.TensorLength];
        new ImagePreprocessor(cpu.Preprocessing).Preprocess(File.ReadAllBytes(Repository.Data("squeezenet", "fish.png")), tensor);
        Assert.Equal(cpu.Predict(tensor, 1), classifier.Predict(tensor, 1));
    }

    [CudaFact]
    public void Cuda_request_runs_on_the_gpu_when_a_cuda_device_is_present()
    {
        Repository.RequireShared();
        var warnings = new List<string>();
        using var classifier = ImageClassifier.Load(Repository.SqueezeNet,
            new InferenceOptions { Device = "cuda", Warning = warnings.Add }, PreprocessingSettings.Caffe());
        Assert.Equal("cuda:0", classifier.ExecutionProvider);
        Assert.DoesNotContain(warnings, w => w.Contains("CUDA", StringComparison.Ordinal));
    }

    [Theory]
    [InlineData("cpu", false, 0)]
    [InlineData("", false, 0)]
    [InlineData("CUDA", true, 0)]
    [InlineData("gpu", true, 0)]
    [InlineData("cuda:1", true, 1)]
    [InlineData("Auto", true, 0, true)]
    public void Device_names_parse_one_way(string text, bool cuda, int id, bool fallsBack = false)
    {
        Assert.True(InferenceDevice.TryParse(text, out var device));
        Assert.Equal(new InferenceDevice(cuda, id, fallsBack), device);
        // Only auto may fall back to the CPU; a named CUDA device is strict.
        Assert.Equal(text.Equals("auto", StringComparison.OrdinalIgnoreCase), device.FallsBackToCpu);
        Assert.False(InferenceDevice.TryParse("cuda:-1", out _));
        Assert.False(InferenceDevice.TryParse("tpu", out _));
    }

    [Fact]
    public void Model_without_metadata_or_given_preprocessing_warns_and_uses_timm_defaults()
    {
        Repository.RequireShared();
        using var classifier = ImageClassifier.Load(Repository.SqueezeNet);
        var timm = PreprocessingSettings.Timm();
        Assert.Equal((timm.ResizeShorter, timm.CropHeight, timm.Interpolation, timm.ChannelOrder),
            (classifier.Preprocessing.ResizeShorter, classifier.Preprocessing.CropHeight, classifier.Preprocessing.Interpolation, classifier.Preprocessing.ChannelOrder));
        Assert.Equal(timm.Mean, classifier.Preprocessing.Mean);
        Assert.Contains(classifier.Warnings, w => w.Contains("no preprocessing", StringComparison.Ordinal));
        Assert.Null(classifier.Labels);
    }

    [Fact]
    public void Unknown_device_and_missing_file_are_clear_errors()
    {
        Assert.Throws<ArgumentException>(() => ImageClassifier.Load(Repository.SqueezeNet, new InferenceOptions { Device = "tpu" }));
        Assert.Throws<ModelLoadException>(() => ImageClassifier.Load("/nonexistent/model.onnx"));
    }
}

/// <summary>Whether this machine can run ONNX Runtime's CUDA execution provider on a CUDA device.</summary>
internal static class CudaDevice
{
    public static bool Present { get; } =
        OrtEnvironmentProviders().Contains("CUDAExecutionProvider") && File.Exists("/dev/nvidia0");

    private static string[] OrtEnvironmentProviders()
    {
        try { return Microsoft.ML.OnnxRuntime.OrtEnv.Instance().GetAvailableProviders(); }
        catch (Exception) { return []; }
    }
}

/// <summary>A test that needs a CUDA device; skipped (and reported as skipped) without one.</summary>
public sealed class CudaFactAttribute : FactAttribute
{
    public CudaFactAttribute()
    {
        if (!CudaDevice.Present)
            Skip = "no CUDA device with ONNX Runtime's CUDA execution provider on this machine";
    }
}

/// <summary>A test of the CPU fallback; skipped where CUDA is really there.</summary>
public sealed class NoCudaFactAttribute : FactAttribute
{
    public NoCudaFactAttribute()
    {
        if (CudaDevice.Present)
            Skip = "a CUDA device is present: the fallback cannot happen here";
    }
}
