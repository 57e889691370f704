namespace ConvNeXt.Batch.Service.Api;

/// <summary>An answer's bytes as they are sent: content type, body and the headers that go with it.</summary>
public sealed record ApiContent(string ContentType, byte[] Bytes, IReadOnlyDictionary<string, string> Headers);
