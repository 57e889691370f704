using ConvNeXt.Batch.Service.Reports;

namespace ConvNeXt.Batch.Functions.Tests;

public class ReportLinkTokensTests
{
    private sealed class Clock : TimeProvider
    {
        public DateTimeOffset Now = new(2026, 12, 7, 5, 0, 0, TimeSpan.Zero);
        public override DateTimeOffset GetUtcNow() => Now;
    }

    [Fact]
    public void A_token_opens_its_scope_until_it_expires()
    {
        var clock = new Clock();
        var tokens = new ReportLinkTokens(new byte[32], TimeSpan.FromMinutes(15), clock);
        var token = tokens.Issue("validation/a.JPEG");
        Assert.True(tokens.IsValid("validation/a.JPEG", token));
        Assert.False(tokens.IsValid("validation/b.JPEG", token));
        Assert.False(new ReportLinkTokens(Enumerable.Repeat((byte)1, 32).ToArray(), TimeSpan.FromMinutes(15), clock).IsValid("validation/a.JPEG", token));
        Assert.False(tokens.IsValid("validation/a.JPEG", "99999999999." + token.Split('.')[1]));
        Assert.False(tokens.IsValid("validation/a.JPEG", null));
        clock.Now = clock.Now.AddMinutes(16);
        Assert.False(tokens.IsValid("validation/a.JPEG", token));
    }

    [Theory]
    [InlineData("not base64!", "Reports__LinkSigningKey is not base64")]
    [InlineData("c2hvcnQ=", "Reports__LinkSigningKey must be base64 of at least 16 bytes")]
    public void A_bad_signing_key_is_a_start_up_error(string key, string message) =>
        Assert.Equal(message, Assert.Throws<InvalidOperationException>(() => ReportLinkTokens.FromOptions(new ReportOptions { LinkSigningKey = key })).Message);
}
