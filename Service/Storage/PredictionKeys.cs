using ConvNeXt.Batch.Service.Models;

namespace ConvNeXt.Batch.Service.Storage;

/// <summary>
/// Where a <c>Predictions</c> row lives. PartitionKey = the container for the deployed model (rows written
/// before the model repository keep their keys), and <c>{container}@{name}@{version}</c> for a repository
/// model, so two models' rows for one blob coexist and each model's rows of a container are one partition
/// (prefix queries stay exact). RowKey = <see cref="TableKeys.Escape"/>(blob name) in both.
/// </summary>
public static class PredictionKeys
{
    public static string Partition(string container, ModelReference? model) =>
        model is null ? container : $"{container}@{model.Name}@{model.Version}";

    /// <summary>The container of a row, whatever model wrote it.</summary>
    public static string Container(PredictionEntity row) =>
        row.ModelName is { } name && row.ModelVersion is { } version && row.PartitionKey.EndsWith($"@{name}@{version}", StringComparison.Ordinal)
            ? row.PartitionKey[..^(name.Length + version.Length + 2)]
            : row.PartitionKey;

    /// <summary>The model of a row as <c>NAME@VERSION</c>, or null for the deployed model.</summary>
    public static string? Model(PredictionEntity row) =>
        row.ModelName is { } name && row.ModelVersion is { } version ? $"{name}@{version}" : null;
}
