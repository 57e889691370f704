using ConvNeXt.Batch.Scoring.Evaluation;
using ConvNeXt.Batch.Scoring.Inference;
using ConvNeXt.Batch.Scoring.Labels;
using ConvNeXt.Batch.Scoring.Preprocessing;
using ConvNeXt.Batch.Scoring.Quantization;

namespace ConvNeXt.Batch.Scoring.Tests.Quantization;

/// <summary>
/// Quantizes SqueezeNet 1.1 once, every convolution int8 (percentile calibration, channel equalisation, GPTQ weight rounding: the most
/// accurate configuration measured, see docs/benchmarks.md; calibrated on imagenet-val100, evaluated on the 1,000 other
/// samples) and scores every sample with the int8 model and with the float32 graph it was made from.
/// </summary>
public sealed class QuantizedSqueezeNetFixture : IDisposable
{
    public QuantizedSqueezeNetFixture()
    {
        Repository.RequireShared();
        Labels = ClassLabels.Load(Repository.LabelsFile);
        var preprocessing = PreprocessingSettings.Caffe();
        Calibration = CalibrationImages.Load(Repository.ImagenetVal100, preprocessing, 100);
        Report = ModelQuantizer.Quantize(Repository.SqueezeNet, Int8Path, Calibration, preprocessing, Labels,
            new QuantizationOptions { Method = CalibrationMethod.Percentile, WeightRounding = WeightRounding.Gptq, Equalize = true, FloatOutputPath = Fp32Path, IntraOpThreads = 2 });

        var dataset = LabelledDataset.Open(Repository.ImagenetSamples, Labels);
        var preprocessor = new ImagePreprocessor(preprocessing);
        var options = new InferenceOptions { IntraOpThreads = 2 };
        using var fp32 = ImageClassifier.Load(Fp32Path, options);
        using var int8 = ImageClassifier.Load(Int8Path, options);
        var tensor = new float[preprocessor.TensorLength];
        foreach (var image in dataset.Images)
        {
            preprocessor.Preprocess(File.ReadAllBytes(image.Path), tensor);
            Truth.Add(image.Label);
            Fp32Top1.Add(ArgMax(fp32.Predict(tensor, 1)));
            Int8Top1.Add(ArgMax(int8.Predict(tensor, 1)));
        }
    }

    public string Directory { get; } = System.IO.Directory.CreateTempSubdirectory("convnext-int8-").FullName;
    public string Int8Path => Path.Combine(Directory, "squeezenet-int8.onnx");
    public string Fp32Path => Path.Combine(Directory, "squeezenet-fp32.onnx");
    public ClassLabels Labels { get; }
    public CalibrationImages Calibration { get; }
    public QuantizationReport Report { get; }
    public List<int> Truth { get; } = [];
    public List<int> Fp32Top1 { get; } = [];
    public List<int> Int8Top1 { get; } = [];

    public void Dispose()
    {
        try { System.IO.Directory.Delete(Directory, recursive: true); } catch (IOException) { }
    }

    private static int ArgMax(float[] values)
    {
        var best = 0;
        for (var i = 1; i < values.Length; i++)
            if (values[i] > values[best])
                best = i;
        return best;
    }
}
