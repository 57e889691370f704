#:project ../../Scoring/ConvNeXt.Batch.Scoring.csproj
#:property TreatWarningsAsErrors=true
// Top-1 agreement, image by image, between our preprocessing and PIL crops (pil_crops.py) fed
// through the same ONNX Runtime session. Usage:
//   dotnet run scripts/pil-agreement/PilAgreement.cs -- IMAGES_DIR PIL_CROPS MODEL.onnx
// The model's preprocessing must be Caffe (SqueezeNet 1.1): BGR 0–255 minus mean, resize 256 bilinear, crop 224.
using ConvNeXt.Batch.Scoring.Inference;
using ConvNeXt.Batch.Scoring.Preprocessing;

var (images, crops, model) = (args[0], args[1], args[2]);
using var classifier = ImageClassifier.Load(model, preprocessing: PreprocessingSettings.Caffe());
var settings = classifier.Preprocessing;
var exact = new ImagePreprocessor(settings) { ShrinkOnLoad = false };
var fast = new ImagePreprocessor(settings); // default: JPEG shrink-on-load
var identity = new ImagePreprocessor(settings with { ResizeShorter = settings.CropHeight }); // only normalizes a ready crop
var files = Directory.GetFiles(images).Order(StringComparer.Ordinal).ToArray();
var cropBytes = settings.CropWidth * settings.CropHeight * 3;
var pil = File.ReadAllBytes(crops);
if (pil.Length != files.Length * cropBytes)
    throw new InvalidOperationException($"{crops} holds {pil.Length / cropBytes} crops; {files.Length} images in {images}");

// Samples are named <wnid>_<name>, one per class in class order: index = position.
var wnids = files.Select(f => Path.GetFileName(f)[..9]).Distinct().Order(StringComparer.Ordinal).ToList();
int agreeExact = 0, agreeFast = 0, correctPil = 0, correctExact = 0, correctFast = 0;
var tensor = new float[classifier.TensorLength];
var disagreements = new List<string>();
for (var i = 0; i < files.Length; i++)
{
    var truth = wnids.IndexOf(Path.GetFileName(files[i])[..9]);
    using (var crop = NetVips.Image.NewFromMemory(pil.AsSpan(i * cropBytes, cropBytes).ToArray(), settings.CropWidth, settings.CropHeight, 3, NetVips.Enums.BandFormat.Uchar))
        identity.Preprocess(crop.WriteToBuffer(".png"), tensor);
    var pilTop = Top1(classifier.Predict(tensor, 1));
    var bytes = File.ReadAllBytes(files[i]);
    exact.Preprocess(bytes, tensor);
    var exactTop = Top1(classifier.Predict(tensor, 1));
    fast.Preprocess(bytes, tensor);
    var fastTop = Top1(classifier.Predict(tensor, 1));
    agreeExact += exactTop == pilTop ? 1 : 0;
    agreeFast += fastTop == pilTop ? 1 : 0;
    correctPil += pilTop == truth ? 1 : 0;
    correctExact += exactTop == truth ? 1 : 0;
    correctFast += fastTop == truth ? 1 : 0;
    if (exactTop != pilTop)
        disagreements.Add(Path.GetFileName(files[i]));
    if ((i + 1) % 100 == 0)
        Console.Error.WriteLine($"{i + 1}/{files.Length}");
}
Console.WriteLine($"| pipeline | top-1 agrees with PIL | top-1 accuracy |");
Console.WriteLine($"|---|---|---|");
Console.WriteLine($"| PIL (pil_crops.py) | — | {100.0 * correctPil / files.Length:F1} % |");
Console.WriteLine($"| ImagePreprocessor, ShrinkOnLoad = false (full decode) | {agreeExact}/{files.Length} | {100.0 * correctExact / files.Length:F1} % |");
Console.WriteLine($"| ImagePreprocessor (default: JPEG shrink-on-load) | {agreeFast}/{files.Length} | {100.0 * correctFast / files.Length:F1} % |");
Console.WriteLine($"disagreeing (exact): {string.Join(", ", disagreements)}");

static int Top1(float[] scores)
{
    var best = 0;
    for (var k = 1; k < scores.Length; k++)
        if (scores[k] > scores[best])
            best = k;
    return best;
}
