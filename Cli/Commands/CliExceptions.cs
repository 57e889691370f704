namespace ConvNeXt.Batch.Cli.Commands;

/// <summary>Arguments that parse but make no sense together (exit code 2).</summary>
public sealed class UsageException(string message) : Exception(message);

/// <summary>A command that could not do its job for a reason the user can act on (exit code 1).</summary>
public sealed class CommandFailedException(string message, Exception? inner = null) : Exception(message, inner);
