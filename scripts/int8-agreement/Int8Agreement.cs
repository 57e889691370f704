#:project ../../Scoring/ConvNeXt.Batch.Scoring.csproj
#:property TreatWarningsAsErrors=true
#:property JsonSerializerIsReflectionEnabledByDefault=true
// How close an int8 model's raw outputs are to its float model's on real images: cosine similarity
// of the output vectors (logits for the models this project builds) per image, as median / 10th
// percentile / minimum, and top-1 agreement. Both models get the float model's preprocessing
// (from its metadata). Usage:
//   dotnet run scripts/int8-agreement/Int8Agreement.cs -- FP32.onnx INT8.onnx IMAGES_DIR [LIMIT]
using ConvNeXt.Batch.Scoring.Onnx;
using ConvNeXt.Batch.Scoring.Preprocessing;
using Microsoft.ML.OnnxRuntime;

var (fp32Path, int8Path, folder) = (args[0], args[1], args[2]);
var limit = args.Length > 3 ? int.Parse(args[3]) : 100;
var info = OnnxModelInfo.Read(fp32Path);
var preprocessing = info.Metadata.Preprocessing ?? PreprocessingSettings.Timm();
var preprocessor = new ImagePreprocessor(preprocessing);
using var options = new SessionOptions { GraphOptimizationLevel = Environment.GetEnvironmentVariable("INT8_AGREEMENT_NO_FUSION") == "1" ? GraphOptimizationLevel.ORT_DISABLE_ALL : GraphOptimizationLevel.ORT_ENABLE_ALL };
using var fp32 = new InferenceSession(fp32Path, options);
using var int8 = new InferenceSession(int8Path, options);
var input = info.Inputs[0].Name;
var output = info.Outputs[0].Name;
var cosines = new List<double>();
var agree = 0;
var tensor = new float[preprocessor.TensorLength];
foreach (var file in Directory.GetFiles(folder).Order(StringComparer.Ordinal).Take(limit))
{
    try { preprocessor.Preprocess(File.ReadAllBytes(file), tensor); }
    catch (ImageRejectedException) { continue; }
    var a = Run(fp32);
    var b = Run(int8);
    double dot = 0, na = 0, nb = 0;
    for (var i = 0; i < a.Length; i++)
    {
        dot += (double)a[i] * b[i];
        na += (double)a[i] * a[i];
        nb += (double)b[i] * b[i];
    }
    cosines.Add(dot / Math.Sqrt(na * nb));
    if (Array.IndexOf(a, a.Max()) == Array.IndexOf(b, b.Max()))
        agree++;
}
cosines.Sort();
Console.WriteLine($"| {Path.GetFileName(int8Path)} vs {Path.GetFileName(fp32Path)} | {cosines.Count} images | cosine median {cosines[cosines.Count / 2]:F4} | p10 {cosines[cosines.Count / 10]:F4} | min {cosines[0]:F4} | top-1 agreement {100.0 * agree / cosines.Count:F1} % |");

float[] Run(InferenceSession session)
{
    long[] shape = [1, 3, preprocessing.CropHeight, preprocessing.CropWidth];
    using var value = OrtValue.CreateTensorValueFromMemory(tensor, shape);
    using var runOptions = new RunOptions();
    using var outputs = session.Run(runOptions, [input], [value], [output]);
    return outputs[0].GetTensorDataAsSpan<float>().ToArray();
}
