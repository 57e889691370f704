using System.Collections.Concurrent;
using Azure;
using Azure.Storage.Blobs.Models;
using ConvNeXt.Batch.Scoring;
using ConvNeXt.Batch.Scoring.Onnx;
using ConvNeXt.Batch.Service.Storage;

namespace ConvNeXt.Batch.Service.Models;

/// <summary>
/// The model repository in container <c>models</c>: <c>{name}/{version}/model.onnx</c>, its
/// <c>manifest.json</c> (<see cref="ModelManifest"/>) and optionally <c>labels.txt</c>; and the alias table
/// <c>ModelAliases</c> (<c>default</c> and each name → <c>NAME@VERSION</c>), read through a short cache.
/// Operators push and promote; the deployed apps only read.
/// </summary>
public sealed class ModelRepository(StorageAccount storage, ModelRepositoryOptions options)
{
    private readonly ConcurrentDictionary<string, (ModelReference? Target, DateTimeOffset ReadAt)> _aliases = new(StringComparer.Ordinal);

    /// <summary>Read by tests that move the clock past the alias cache.</summary>
    internal Func<DateTimeOffset> Clock { get; init; } = () => DateTimeOffset.UtcNow;

    public static string Folder(ModelReference exact) => $"{exact.Name}/{exact.Version}/";

    public static string BlobPath(ModelReference exact, string file) => Folder(exact) + file;

    /// <summary>Uploads a model and writes its manifest last, so a version is visible only when complete; an existing version is refused.</summary>
    /// <exception cref="ModelVersionExistsException">The version is already in the repository.</exception>
    public async Task<ModelManifest> PushAsync(ModelPushRequest request, CancellationToken cancellationToken = default)
    {
        var reference = request.Reference;
        if (!reference.IsExact)
            throw new ArgumentException($"push needs NAME@VERSION, not '{reference}'");
        if (request.Preprocessing is { } preset)
            _ = Services.ScoringEngine.ParsePreprocessing(preset); // throws for an unknown preset
        var container = storage.Container(ContainerNames.Models);
        await storage.Resilience.ExecuteAsync(async ct => await container.CreateIfNotExistsAsync(cancellationToken: ct), cancellationToken);
        var manifestBlob = container.GetBlobClient(BlobPath(reference, ModelManifest.FileName));
        if (await storage.Resilience.ExecuteAsync(async ct => (await manifestBlob.ExistsAsync(ct)).Value, cancellationToken))
            throw Exists(reference);

        var metadata = OnnxModelInfo.Read(request.File).Metadata;
        var sha256 = await FileSha256.ComputeAsync(request.File, cancellationToken);
        // A half push (model uploaded, no manifest) may be redone: only the manifest is written once.
        await storage.Resilience.ExecuteAsync(async ct =>
            { await container.GetBlobClient(BlobPath(reference, ModelManifest.ModelFileName)).UploadAsync(request.File, overwrite: true, ct); }, cancellationToken);
        string? labels = null, labelsSha = null;
        if (request.LabelsFile is { } labelsFile)
        {
            labels = BlobPath(reference, ModelManifest.LabelsFileName);
            labelsSha = await FileSha256.ComputeAsync(labelsFile, cancellationToken);
            await storage.Resilience.ExecuteAsync(async ct =>
                { await container.GetBlobClient(labels).UploadAsync(labelsFile, overwrite: true, ct); }, cancellationToken);
        }
        var manifest = new ModelManifest
        {
            Name = reference.Name,
            Version = reference.Version!,
            Sha256 = sha256,
            Bytes = new FileInfo(request.File).Length,
            Architecture = metadata.Architecture,
            Preprocessing = request.Preprocessing,
            Labels = labels,
            LabelsSha256 = labelsSha,
            Trained = request.Trained ?? metadata.Trained ?? true,
            ReferenceTop1 = metadata.ReferenceAccuracy?.Top1,
            ReferenceTop5 = metadata.ReferenceAccuracy?.Top5,
            ReferenceSource = metadata.ReferenceAccuracy?.Source,
            PushedBy = request.PushedBy ?? $"{Environment.UserName}@{Environment.MachineName}",
            PushedAt = DateTimeOffset.UtcNow,
        };
        try
        {
            await storage.Resilience.ExecuteAsync(async ct => await manifestBlob.UploadAsync(BinaryData.FromString(manifest.ToJson()),
                new BlobUploadOptions { Conditions = new BlobRequestConditions { IfNoneMatch = ETag.All } }, ct), cancellationToken);
        }
        catch (RequestFailedException e) when (e.Status is 409 or 412)
        {
            throw Exists(reference); // pushed by someone else meanwhile
        }
        return manifest;
    }

    private static ModelVersionExistsException Exists(ModelReference reference) =>
        new($"model {reference} already exists: versions are immutable, push it as a new version");

    /// <summary>Every version in the repository, by name then version.</summary>
    public async Task<IReadOnlyList<ModelManifest>> ListAsync(CancellationToken cancellationToken = default)
    {
        var container = storage.Container(ContainerNames.Models);
        var names = new List<string>();
        try
        {
            await storage.Resilience.ExecuteAsync(async ct =>
            {
                names.Clear();
                await foreach (var blob in container.GetBlobsAsync(cancellationToken: ct))
                    if (blob.Name.EndsWith("/" + ModelManifest.FileName, StringComparison.Ordinal) && blob.Name.Count(c => c == '/') == 2)
                        names.Add(blob.Name);
            }, cancellationToken);
        }
        catch (RequestFailedException e) when (e.Status == 404)
        {
            return [];
        }
        var manifests = new List<ModelManifest>();
        foreach (var name in names)
        {
            var parts = name.Split('/');
            if (ModelReference.TryParse($"{parts[0]}@{parts[1]}", out var reference))
                manifests.Add(await GetManifestAsync(reference!, cancellationToken));
        }
        return [.. manifests.OrderBy(m => m.Name, StringComparer.Ordinal).ThenBy(m => m.PushedAt)];
    }

    /// <exception cref="ModelNotFoundException">No such version.</exception>
    /// <exception cref="ModelIntegrityException">The manifest is not one (permanent).</exception>
    /// <remarks>A storage failure that outlasts the retries propagates as it is: transient, the message is redelivered.</remarks>
    public async Task<ModelManifest> GetManifestAsync(ModelReference exact, CancellationToken cancellationToken = default)
    {
        if (!exact.IsExact)
            exact = await ResolveAsync(exact, cancellationToken);
        var path = BlobPath(exact, ModelManifest.FileName);
        var blob = storage.Container(ContainerNames.Models).GetBlobClient(path);
        string text;
        try
        {
            text = await storage.Resilience.ExecuteAsync(async ct => (await blob.DownloadContentAsync(ct)).Value.Content.ToString(), cancellationToken);
        }
        catch (RequestFailedException e) when (e.Status == 404)
        {
            throw new ModelNotFoundException($"model {exact} is not in the repository ({ContainerNames.Models}/{path} does not exist)");
        }
        try
        {
            var manifest = ModelManifest.Parse(text, $"{ContainerNames.Models}/{path}");
            if (manifest.Name != exact.Name || manifest.Version != exact.Version)
                throw new FormatException($"{ContainerNames.Models}/{path} describes {manifest.Reference}, not {exact}");
            return manifest;
        }
        catch (FormatException e)
        {
            throw new ModelIntegrityException($"model {exact}: {e.Message}", e);
        }
    }

    /// <summary><c>NAME@VERSION</c> as it is; <c>NAME</c> → the version its alias names.</summary>
    /// <exception cref="ModelNotFoundException">The name has no alias.</exception>
    public async Task<ModelReference> ResolveAsync(ModelReference reference, CancellationToken cancellationToken = default)
    {
        if (reference.IsExact)
            return reference;
        return await ReadAliasAsync(reference.Name, cancellationToken)
            ?? throw new ModelNotFoundException($"model {reference.Name} has no promoted version: name one as {reference.Name}@VERSION (see `convnext-batch model list`)");
    }

    /// <summary>The model <c>default</c> names (what events are scored with), or null when none was promoted.</summary>
    public Task<ModelReference?> GetDefaultAsync(CancellationToken cancellationToken = default) =>
        ReadAliasAsync(ModelReference.DefaultAlias, cancellationToken);

    /// <summary>Every alias row (<c>model list</c>).</summary>
    public async Task<IReadOnlyDictionary<string, ModelReference>> ListAliasesAsync(CancellationToken cancellationToken = default)
    {
        var rows = await storage.TableCallAsync(ModelAliasEntity.TableName, async (table, ct) =>
        {
            var list = new List<ModelAliasEntity>();
            await foreach (var row in table.QueryAsync<ModelAliasEntity>(e => e.PartitionKey == ModelAliasEntity.PartitionKeyValue, cancellationToken: ct))
                list.Add(row);
            return list;
        }, cancellationToken);
        return rows.Where(r => ModelReference.TryParse(r.Target, out _)).ToDictionary(r => r.RowKey, r => ModelReference.Parse(r.Target), StringComparer.Ordinal);
    }

    private async Task<ModelReference?> ReadAliasAsync(string alias, CancellationToken cancellationToken)
    {
        var now = Clock();
        if (_aliases.TryGetValue(alias, out var cached) && now - cached.ReadAt < TimeSpan.FromSeconds(Math.Max(0, options.AliasCacheSeconds)))
            return cached.Target;
        var row = await storage.TableCallAsync(ModelAliasEntity.TableName, async (table, ct) =>
            await table.GetEntityIfExistsAsync<ModelAliasEntity>(ModelAliasEntity.PartitionKeyValue, alias, cancellationToken: ct), cancellationToken);
        ModelReference? target = null;
        if (row.HasValue && (!ModelReference.TryParse(row.Value!.Target, out target) || !target!.IsExact))
            throw new ModelIntegrityException($"alias '{alias}' names '{row.Value!.Target}', which is not NAME@VERSION");
        _aliases[alias] = (target, now);
        return target;
    }

    /// <summary>Points <c>default</c> and the model's name at <paramref name="exact"/>; returns what <c>default</c> named before.</summary>
    /// <exception cref="ModelNotFoundException">No such version.</exception>
    public async Task<ModelReference?> PromoteAsync(ModelReference exact, string? by, CancellationToken cancellationToken = default)
    {
        await GetManifestAsync(exact, cancellationToken);
        _aliases.Clear();
        var previous = await GetDefaultAsync(cancellationToken);
        foreach (var alias in new[] { ModelReference.DefaultAlias, exact.Name })
        {
            var row = new ModelAliasEntity
            {
                RowKey = alias,
                Target = exact.ToString(),
                Previous = alias == ModelReference.DefaultAlias ? previous?.ToString() : null,
                UpdatedBy = by ?? $"{Environment.UserName}@{Environment.MachineName}",
                UpdatedAt = DateTimeOffset.UtcNow,
            };
            await storage.TableCallAsync(ModelAliasEntity.TableName, async (table, ct) => await table.UpsertEntityAsync(row, Azure.Data.Tables.TableUpdateMode.Replace, ct), cancellationToken);
        }
        _aliases.Clear();
        return previous;
    }

    /// <summary>
    /// The model file (and label table) on local disk, each verified against the manifest's SHA-256; a cached
    /// copy is verified again, so a file changed on disk is not loaded either.
    /// </summary>
    /// <exception cref="ModelIntegrityException">A file does not match the manifest: it is not loaded.</exception>
    public async Task<(string Model, string? Labels)> DownloadVerifiedAsync(ModelManifest manifest, CancellationToken cancellationToken = default)
    {
        var directory = Path.Combine(options.CacheDirectory ?? Path.Combine(Path.GetTempPath(), "convnext-batch", "repository"), manifest.Name, manifest.Version);
        Directory.CreateDirectory(directory);
        var model = await DownloadAsync(BlobPath(manifest.Reference, ModelManifest.ModelFileName), Path.Combine(directory, manifest.Sha256 + ".onnx"),
            manifest.Sha256, manifest.Reference, cancellationToken);
        var labels = manifest.Labels is null ? null
            : await DownloadAsync(manifest.Labels, Path.Combine(directory, (manifest.LabelsSha256 ?? "labels") + ".txt"), manifest.LabelsSha256, manifest.Reference, cancellationToken);
        return (model, labels);
    }

    private async Task<string> DownloadAsync(string blobPath, string local, string? sha256, ModelReference reference, CancellationToken cancellationToken)
    {
        if (!File.Exists(local) || !string.Equals(await FileSha256.ComputeAsync(local, cancellationToken), sha256, StringComparison.OrdinalIgnoreCase))
        {
            var blob = storage.Container(ContainerNames.Models).GetBlobClient(blobPath);
            var partial = local + "." + Guid.NewGuid().ToString("N")[..8] + ".part";
            try
            {
                await storage.Resilience.ExecuteAsync(async ct => { await blob.DownloadToAsync(partial, ct); }, cancellationToken);
            }
            catch (RequestFailedException e) when (e.Status == 404)
            {
                throw new ModelIntegrityException($"model {reference}: {ContainerNames.Models}/{blobPath} is named by its manifest but does not exist", e);
            }
            var actual = await FileSha256.ComputeAsync(partial, cancellationToken);
            if (!string.Equals(actual, sha256, StringComparison.OrdinalIgnoreCase))
            {
                File.Delete(partial);
                throw new ModelIntegrityException(
                    $"model {reference}: {ContainerNames.Models}/{blobPath} has SHA-256 {actual}, but its manifest says {sha256}: not loaded");
            }
            File.Move(partial, local, overwrite: true);
        }
        return local;
    }
}
