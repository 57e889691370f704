using System.Globalization;

namespace ConvNeXt.Batch.Service.Local;

/// <summary>A count with its noun in the right number: "1 image", "2 images", "0 errors".</summary>
public static class Counted
{
    public static string Of(long count, string singular, string? plural = null) =>
        count.ToString(CultureInfo.InvariantCulture) + " " + (count == 1 ? singular : plural ?? singular + "s");
}
