using System.Text;
using Azure.Data.Tables;
using ConvNeXt.Batch.Functions.Handler;
using ConvNeXt.Batch.Scoring.Importers;
using ConvNeXt.Batch.Scoring.Inference;
using ConvNeXt.Batch.Scoring.Onnx;
using ConvNeXt.Batch.Scoring.Preprocessing;
using ConvNeXt.Batch.Service.Storage;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.TestHost;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Logging;

namespace ConvNeXt.Batch.Functions.Tests;

/// <summary>The Functions path with an InceptionNeXt model: the handler scores blobs with it exactly as the model scores them directly.</summary>
[Collection(FunctionsCollection.Name)]
public class InceptionNeXtScoringTests(FunctionsFixture fixture)
{
    [Fact]
    public async Task ScoreImages_writes_rows_from_an_inception_next_model()
    {
        // The golden InceptionNeXt checkpoint (10 classes, trained-looking weights) at 64 pixels; the
        // file carries its own preprocessing, so the handler gets no preprocessing or labels setting.
        var dir = Path.Combine(Path.GetTempPath(), $"inext-functions-{Guid.NewGuid():N}");
        Directory.CreateDirectory(dir);
        var model = Path.Combine(dir, "inext-mini.onnx");
        InceptionNeXtOnnxBuilder.BuildToFile(InceptionNeXtImporter.Load(Repository.Reference("golden-inceptionnext-mini", "timm.safetensors")),
            new ModelBuildOptions { ImageSize = 64 }, model);

        await using var app = HandlerApplication.Build([], b =>
        {
            b.WebHost.UseTestServer();
            b.Configuration.AddInMemoryCollection(FunctionsFixture.Settings(fixture.ConnectionString));
            b.Configuration.AddInMemoryCollection(new Dictionary<string, string?>
            {
                ["Model:Location"] = model,
                ["Model:Labels"] = null,
                ["Model:Preprocessing"] = null,
            });
            b.Logging.SetMinimumLevel(LogLevel.Warning);
        });
        await app.StartAsync();
        using var client = app.GetTestClient();

        var files = Directory.GetFiles(Repository.ImagenetSamples, "*.JPEG").Order(StringComparer.Ordinal).Take(4).ToArray();
        var bodies = new List<string>();
        foreach (var file in files)
        {
            var name = $"inext/{Path.GetFileName(file)}";
            var bytes = await File.ReadAllBytesAsync(file);
            var info = await fixture.UploadAsync("images", name, bytes);
            var uri = fixture.Blobs.GetBlobContainerClient("images").GetBlobClient(name).Uri;
            bodies.Add(HostPayloads.EventGridBlobCreated(uri, "images", name, info.ETag.ToString(), bytes.Length));
        }
        using var request = new HttpRequestMessage(HttpMethod.Post, "/ScoreImages")
        {
            Content = new StringContent(HostPayloads.ServiceBusBatch(bodies).ToJsonString(), Encoding.UTF8, "application/json"),
        };
        request.Headers.Add(FunctionInvocations.InvocationIdHeader, Guid.NewGuid().ToString());
        using var response = await client.SendAsync(request);
        Assert.True(response.IsSuccessStatusCode, await response.Content.ReadAsStringAsync());

        var table = new TableClient(fixture.ConnectionString, TableNames.Predictions);
        var rows = new List<PredictionEntity>();
        var low = TableKeys.Escape("inext/");
        await foreach (var r in table.QueryAsync<PredictionEntity>(TableClient.CreateQueryFilter(
            $"PartitionKey eq {"images"} and RowKey ge {low} and RowKey lt {TableKeys.PrefixUpperBound(low)}")))
            rows.Add(r);
        Assert.Equal(files.Length, rows.Count);

        using var classifier = ImageClassifier.Load(model);
        Assert.Equal(64, classifier.Preprocessing.CropHeight);
        foreach (var file in files)
        {
            var row = rows.Single(r => r.BlobName == $"inext/{Path.GetFileName(file)}");
            Assert.Equal(RowStatus.Scored, row.Status);
            Assert.Equal("inext-mini", row.ModelId);
            Assert.Equal(classifier.ModelSha256, row.ModelSha256);
            var tensor = new float[classifier.TensorLength];
            new ImagePreprocessor(classifier.Preprocessing).Preprocess(await File.ReadAllBytesAsync(file), tensor);
            var direct = classifier.TopK(classifier.Predict(tensor, 1), 1)[0];
            Assert.Equal(direct.Index, row.Top1Index);
            Assert.Equal(direct.Probability, row.Top1Probability!.Value, 4);
        }
        Directory.Delete(dir, true);
    }
}
