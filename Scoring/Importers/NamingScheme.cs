using System.Text.RegularExpressions;

namespace ConvNeXt.Batch.Scoring.Importers;

/// <summary>
/// Maps a checkpoint's tensor names to the canonical (timm) names and back, one rule per tensor kind.
/// Templates use {s} for the stage, {j} for the block, and — for the flat <c>features</c> lists of
/// torchvision and MindCV — {b} = 2s+1 (a stage's blocks) and {d} = 2s (a stage's downsample).
/// </summary>
internal sealed class NamingScheme
{
    private static readonly string[] CanonicalStem = ["stem.0.weight", "stem.0.bias", "stem.1.weight", "stem.1.bias"];
    private static readonly string[] CanonicalDownsample = ["0.weight", "0.bias", "1.weight", "1.bias"];
    private static readonly string[] CanonicalBlock =
        ["gamma", "conv_dw.weight", "conv_dw.bias", "norm.weight", "norm.bias", "mlp.fc1.weight", "mlp.fc1.bias", "mlp.fc2.weight", "mlp.fc2.bias"];
    private static readonly string[] CanonicalHead = ["head.norm.weight", "head.norm.bias", "head.fc.weight", "head.fc.bias"];

    public static NamingScheme Timm { get; } = new(
        CanonicalStem, "stages.{s}.downsample.", CanonicalDownsample, "stages.{s}.blocks.{j}.", CanonicalBlock, CanonicalHead);

    public static NamingScheme Torchvision { get; } = new(
        ["features.0.0.weight", "features.0.0.bias", "features.0.1.weight", "features.0.1.bias"],
        "features.{d}.", ["0.weight", "0.bias", "1.weight", "1.bias"],
        "features.{b}.{j}.",
        ["layer_scale", "block.0.weight", "block.0.bias", "block.2.weight", "block.2.bias", "block.3.weight", "block.3.bias", "block.5.weight", "block.5.bias"],
        ["classifier.0.weight", "classifier.0.bias", "classifier.2.weight", "classifier.2.bias"]);

    public static NamingScheme HuggingFace { get; } = new(
        ["convnext.embeddings.patch_embeddings.weight", "convnext.embeddings.patch_embeddings.bias",
         "convnext.embeddings.layernorm.weight", "convnext.embeddings.layernorm.bias"],
        "convnext.encoder.stages.{s}.downsampling_layer.", ["0.weight", "0.bias", "1.weight", "1.bias"],
        "convnext.encoder.stages.{s}.layers.{j}.",
        ["layer_scale_parameter", "dwconv.weight", "dwconv.bias", "layernorm.weight", "layernorm.bias", "pwconv1.weight", "pwconv1.bias", "pwconv2.weight", "pwconv2.bias"],
        ["convnext.layernorm.weight", "convnext.layernorm.bias", "classifier.weight", "classifier.bias"]);

    public static NamingScheme MindCv { get; } = new(
        ["feature.0.0.weight", "feature.0.0.bias", "feature.0.1.gamma", "feature.0.1.beta"],
        "feature.{d}.", ["0.gamma", "0.beta", "1.weight", "1.bias"],
        "feature.{b}.{j}.",
        ["gamma_", "dwconv.weight", "dwconv.bias", "norm.gamma", "norm.beta", "pwconv1.weight", "pwconv1.bias", "pwconv2.weight", "pwconv2.bias"],
        ["norm.gamma", "norm.beta", "classifier.weight", "classifier.bias"]);

    public static NamingScheme For(WeightFormat format) => format switch
    {
        WeightFormat.Timm => Timm,
        WeightFormat.Torchvision => Torchvision,
        WeightFormat.HuggingFace => HuggingFace,
        WeightFormat.MindSpore => MindCv,
        _ => throw new ArgumentOutOfRangeException(nameof(format)),
    };

    private readonly List<Rule> _rules = [];

    private NamingScheme(string[] stem, string downsamplePrefix, string[] downsample, string blockPrefix, string[] block, string[] head)
    {
        for (var i = 0; i < stem.Length; i++) _rules.Add(new Rule(stem[i], CanonicalStem[i]));
        for (var i = 0; i < downsample.Length; i++)
            _rules.Add(new Rule(downsamplePrefix + downsample[i], "stages.{s}.downsample." + CanonicalDownsample[i]));
        for (var i = 0; i < block.Length; i++)
            _rules.Add(new Rule(blockPrefix + block[i], "stages.{s}.blocks.{j}." + CanonicalBlock[i]));
        for (var i = 0; i < head.Length; i++) _rules.Add(new Rule(head[i], CanonicalHead[i]));
    }

    /// <summary>The canonical name of a checkpoint tensor, or <c>null</c> when no rule knows it.</summary>
    public string? ToCanonical(string sourceName)
    {
        foreach (var rule in _rules)
            if (rule.TryMap(rule.Source, sourceName, rule.CanonicalTemplate, out var canonical))
                return canonical;
        return null;
    }

    /// <summary>How this checkpoint format would name a canonical tensor (for error messages).</summary>
    public string ToSource(string canonicalName)
    {
        foreach (var rule in _rules)
            if (rule.TryMap(rule.Canonical, canonicalName, rule.SourceTemplate, out var source))
                return source;
        return canonicalName;
    }

    private sealed class Rule(string sourceTemplate, string canonicalTemplate)
    {
        public string SourceTemplate { get; } = sourceTemplate;
        public string CanonicalTemplate { get; } = canonicalTemplate;
        public Regex Source { get; } = Compile(sourceTemplate);
        public Regex Canonical { get; } = Compile(canonicalTemplate);

        public bool TryMap(Regex from, string name, string toTemplate, out string mapped)
        {
            mapped = "";
            var m = from.Match(name);
            if (!m.Success)
                return false;
            int stage = 0, block = 0;
            if (m.Groups["s"].Success) stage = int.Parse(m.Groups["s"].Value);
            if (m.Groups["b"].Success)
            {
                var b = int.Parse(m.Groups["b"].Value);
                if (b % 2 == 0) return false;
                stage = (b - 1) / 2;
            }
            if (m.Groups["d"].Success)
            {
                var d = int.Parse(m.Groups["d"].Value);
                if (d % 2 != 0) return false;
                stage = d / 2;
            }
            // Stage 0 has no downsample layer: its input comes from the stem.
            if (toTemplate.Contains("downsample") || from.ToString().Contains("downsample"))
                if (stage == 0) return false;
            if (m.Groups["j"].Success) block = int.Parse(m.Groups["j"].Value);
            mapped = toTemplate
                .Replace("{s}", stage.ToString())
                .Replace("{j}", block.ToString())
                .Replace("{b}", (2 * stage + 1).ToString())
                .Replace("{d}", (2 * stage).ToString());
            return true;
        }

        private static Regex Compile(string template)
        {
            var pattern = Regex.Escape(template)
                .Replace(@"\{s}", @"(?<s>\d+)").Replace(@"\{j}", @"(?<j>\d+)")
                .Replace(@"\{b}", @"(?<b>\d+)").Replace(@"\{d}", @"(?<d>\d+)");
            return new Regex("^" + pattern + "$", RegexOptions.CultureInvariant);
        }
    }
}
