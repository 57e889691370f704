using Azure;
using Azure.Data.Tables;

namespace ConvNeXt.Batch.Service.Models;

/// <summary>
/// <c>ModelAliases</c>: PartitionKey = <see cref="PartitionKeyValue"/>, RowKey = <c>default</c> or a model name;
/// <see cref="Target"/> = the exact <c>NAME@VERSION</c> it stands for.
/// </summary>
public sealed class ModelAliasEntity : ITableEntity
{
    public const string TableName = "ModelAliases";
    public const string PartitionKeyValue = "alias";

    public string PartitionKey { get; set; } = PartitionKeyValue;
    public string RowKey { get; set; } = "";
    public DateTimeOffset? Timestamp { get; set; }
    public ETag ETag { get; set; }

    public string Target { get; set; } = "";
    /// <summary>What the alias named before the last promote (null for the first).</summary>
    public string? Previous { get; set; }
    public string? UpdatedBy { get; set; }
    public DateTimeOffset UpdatedAt { get; set; }
}
