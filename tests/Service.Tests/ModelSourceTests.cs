using ConvNeXt.Batch.Service.Models;
using ConvNeXt.Batch.Service.Services;
using ConvNeXt.Batch.Service.Storage;

namespace ConvNeXt.Batch.Service.Tests;

[Collection(StorageCollection.Name)]
public class ModelSourceTests(StorageFixture fixture)
{
    [Fact]
    public async Task A_blob_model_is_downloaded_once_into_the_cache_and_verified()
    {
        var bytes = await File.ReadAllBytesAsync(Repository.SqueezeNet);
        await fixture.UploadAsync(ContainerNames.Models, "squeezenet1.1-fp16.onnx", bytes);
        var sha = await ConvNeXt.Batch.Scoring.FileSha256.ComputeAsync(Repository.SqueezeNet);
        var cache = Path.Combine(Path.GetTempPath(), "convnext-model-cache-" + Guid.NewGuid().ToString("N")[..8]);
        try
        {
            var source = new ModelSource(new StorageAccount(new StorageOptions { ConnectionString = fixture.ConnectionString }));
            var first = await source.ResolveAsync("models/squeezenet1.1-fp16.onnx", sha.ToUpperInvariant(), cache);
            Assert.StartsWith(cache, first);
            Assert.Equal(bytes, await File.ReadAllBytesAsync(first));
            var stamp = File.GetLastWriteTimeUtc(first);
            var second = await source.ResolveAsync("models/squeezenet1.1-fp16.onnx", sha, cache);
            Assert.Equal((first, stamp), (second, File.GetLastWriteTimeUtc(second)));

            var wrong = await Assert.ThrowsAsync<ModelIntegrityException>(() => source.ResolveAsync("models/squeezenet1.1-fp16.onnx", new string('0', 64), cache));
            Assert.Contains(sha, wrong.Message);
            Assert.Contains("Model__Sha256", wrong.Message);
            await Assert.ThrowsAsync<ModelIntegrityException>(() => source.ResolveAsync("models/missing.onnx", null, cache));

            // The engine loads from the blob path like from a local one.
            using var engine = new ScoringEngine(new ModelOptions
            {
                Location = "models/squeezenet1.1-fp16.onnx", Sha256 = sha, CacheDirectory = cache, Labels = Repository.LabelsFile, Preprocessing = "caffe",
            }, new ScoringOptions(), new StorageAccount(new StorageOptions { ConnectionString = fixture.ConnectionString }));
            var info = await engine.GetModelInfoAsync();
            Assert.Equal((sha, 1000), (info.Sha256, info.ClassCount));
        }
        finally
        {
            if (Directory.Exists(cache))
                Directory.Delete(cache, recursive: true);
        }
    }
}
