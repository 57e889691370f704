using ConvNeXt.Batch.Service.Contracts;
using ConvNeXt.Batch.Service.Queries;

namespace ConvNeXt.Batch.Service.Services;

/// <summary>A run and the chunk messages to send to <c>validation-chunks</c>.</summary>
/// <param name="Created">False when the run already existed (then only its missing chunks are in <paramref name="Chunks"/>).</param>
public sealed record ValidationRunPlan(ValidationRunSummary Run, IReadOnlyList<ValidationChunkMessage> Chunks, bool Created = true);
