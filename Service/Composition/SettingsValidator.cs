using Microsoft.Extensions.Options;

namespace ConvNeXt.Batch.Service.Composition;

/// <summary>Checks one options type with its rules; every wrong setting is one failure, named as it is configured.</summary>
internal sealed class SettingsValidator<T>(Func<T, IEnumerable<string?>> problems) : IValidateOptions<T> where T : class
{
    public ValidateOptionsResult Validate(string? name, T options)
    {
        var failures = problems(options).OfType<string>().ToList();
        return failures.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(failures);
    }
}
