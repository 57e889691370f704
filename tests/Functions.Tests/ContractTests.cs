using System.Text.Json;
using ConvNeXt.Batch.Service.Contracts;
using ConvNeXt.Batch.Functions.Handler;
using ConvNeXt.Batch.Service.Queries;
using ConvNeXt.Batch.Service.Storage;

namespace ConvNeXt.Batch.Functions.Tests;

public class TableKeysTests
{
    [Theory]
    [InlineData("plain.jpg")]
    [InlineData("dir/sub/x.JPEG")]
    [InlineData("a'b\"c#d?e%f\\g")]
    [InlineData("ünïcødé/猫🐈.jpg")]
    [InlineData("tab\there\u0001\u007f\u0085")]
    [InlineData("%2F%25")]
    public void Escape_is_reversible_and_uses_only_allowed_characters(string name)
    {
        var key = TableKeys.Escape(name);
        Assert.Equal(name, TableKeys.Unescape(key));
        Assert.DoesNotContain(key, c => c is '/' or '\\' or '#' or '?' || char.IsControl(c));
    }

    [Fact]
    public void Escaping_preserves_prefixes_so_range_queries_are_exact()
    {
        var names = new[] { "dir/a.jpg", "dir/b%.jpg", "dir#x", "dir/", "dis", "di", "dir?q" };
        var prefix = "dir/";
        var low = TableKeys.Escape(prefix);
        var high = TableKeys.PrefixUpperBound(low);
        var inRange = names.Where(n =>
        {
            var k = TableKeys.Escape(n);
            return string.CompareOrdinal(k, low) >= 0 && string.CompareOrdinal(k, high) < 0;
        }).OrderBy(n => n, StringComparer.Ordinal);
        Assert.Equal(names.Where(n => n.StartsWith(prefix, StringComparison.Ordinal)).OrderBy(n => n, StringComparer.Ordinal), inRange);
    }

    [Fact]
    public void Very_long_names_get_distinct_bounded_keys_that_keep_their_prefix()
    {
        var a = new string('/', 700) + "a.jpg";
        var b = new string('/', 700) + "b.jpg";
        var (ka, kb) = (TableKeys.Escape(a), TableKeys.Escape(b));
        Assert.NotEqual(ka, kb);
        Assert.True(ka.Length <= TableKeys.MaxKeyLength);
        Assert.StartsWith(TableKeys.Escape(new string('/', 100)), ka);
        Assert.Equal(ka, TableKeys.Escape(a));
    }

    [Fact]
    public void Distinct_names_get_distinct_keys() =>
        Assert.NotEqual(TableKeys.Escape("a/b"), TableKeys.Escape("a%2Fb"));

    [Fact]
    public void A_name_cannot_spell_the_shortened_key_of_a_long_name()
    {
        // A long name's key is escaped[..440] + "~" + sha256: a 505-character name spelling exactly that must not share it.
        var longName = new string('a', 600);
        var key = TableKeys.Escape(longName);
        Assert.Contains(TableKeys.LongKeyMarker, key);
        Assert.NotEqual(key, TableKeys.Escape(key));
        Assert.DoesNotContain(TableKeys.LongKeyMarker, TableKeys.Escape("x~y"));
        Assert.Equal("x~y", TableKeys.Unescape(TableKeys.Escape("x~y")));
    }

    /// <summary>
    /// Property over generated names from an alphabet rich in the characters the mapping treats specially
    /// (escapes, the marker, hex digits), short and past the key limit, plus each long name's key spelled as a
    /// name: distinct names give distinct keys, short ones round-trip, and every key fits a table key.
    /// </summary>
    [Fact]
    public void Escape_is_injective_over_generated_names()
    {
        const string alphabet = "ab~%/#?\\2F7E0123456789ABCDEFé猫\u0001";
        var random = new Random(25);
        var names = new HashSet<string>(StringComparer.Ordinal);
        for (var i = 0; i < 4000; i++)
        {
            var length = i % 4 == 0 ? random.Next(400, 1025) : random.Next(0, 40);
            var chars = new char[length];
            for (var j = 0; j < length; j++)
                chars[j] = alphabet[random.Next(alphabet.Length)];
            names.Add(new string(chars));
        }
        // Names that spell another's shortened key, or its escaped prefix followed by the marker.
        foreach (var name in names.Where(n => TableKeys.Escape(n).Contains(TableKeys.LongKeyMarker)).ToList())
        {
            var key = TableKeys.Escape(name);
            names.Add(key);
            var marker = key.IndexOf(TableKeys.LongKeyMarker);
            // The kept prefix may end inside an escape (%X): spell only its whole characters.
            var whole = key.LastIndexOf('%', marker - 1) is var p && p >= marker - 2 ? p : marker;
            names.Add(TableKeys.Unescape(key[..whole]) + key[whole..]);
        }
        var owners = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var name in names)
        {
            var key = TableKeys.Escape(name);
            Assert.True(key.Length <= TableKeys.MaxKeyLength, $"key of {name.Length} chars is {key.Length} long");
            Assert.DoesNotContain(key, c => c is '/' or '\\' or '#' or '?' || char.IsControl(c));
            if (!key.Contains(TableKeys.LongKeyMarker))
                Assert.Equal(name, TableKeys.Unescape(key));
            Assert.True(owners.TryAdd(key, name), $"two names share the key {key}");
        }
        Assert.True(owners.Count > 3000);
    }

    [Fact]
    public void Chunk_keys_sort_numerically() =>
        Assert.True(string.CompareOrdinal(TableKeys.ChunkKey(9), TableKeys.ChunkKey(10)) < 0);

    [Fact]
    public void Hostile_prefix_stays_a_quoted_value_in_the_filter()
    {
        var filter = PredictionQueries.BuildFilter(new PredictionQuery { Container = "images", Prefix = "x' or PartitionKey ne '" });
        // CreateQueryFilter doubles the quotes: the whole prefix is one string literal.
        Assert.Contains("RowKey ge 'x'' or PartitionKey ne '''", filter);
        Assert.DoesNotContain("or PartitionKey ne ''' and", filter.Replace("''", "\u0001"));
    }
}

public class BlobEventParserTests
{
    private static readonly IReadOnlySet<string> Images = new HashSet<string> { "images" };
    private static readonly Uri Url = new("https://acct.blob.core.windows.net/images/dir/my%20cat.jpg");

    [Fact]
    public void Reads_an_event_grid_event()
    {
        var json = HostPayloads.EventGridBlobCreated(Url, "images", "dir/my cat.jpg", "0x8DC", 1234);
        var parsed = BlobEventParser.Parse(json, "m1", Images);
        var e = Assert.Single(parsed.Events);
        Assert.Empty(parsed.Rejected);
        Assert.Equal(("images", "dir/my cat.jpg", "0x8DC", 1234L), (e.Container, e.BlobName, e.BlobETag, e.ContentLength!.Value));
    }

    [Fact]
    public void Reads_a_cloud_event_and_arrays_of_events()
    {
        var one = HostPayloads.CloudEventBlobCreated(Url, "images", "a.jpg", "0x1", 1);
        var two = HostPayloads.EventGridBlobCreated(Url, "images", "b.jpg", "0x2", 2);
        var parsed = BlobEventParser.Parse($"[{one},{two}]", "m1", Images);
        Assert.Equal(["a.jpg", "b.jpg"], parsed.Events.Select(e => e.BlobName));
    }

    [Fact]
    public void Falls_back_to_the_url_when_the_subject_is_missing()
    {
        var json = """{"specversion":"1.0","type":"Microsoft.Storage.BlobCreated","id":"1","data":{"url":"https://acct.blob.core.windows.net/images/dir/my%20cat.jpg"}}""";
        Assert.Equal("dir/my cat.jpg", Assert.Single(BlobEventParser.Parse(json, null, Images).Events).BlobName);
    }

    [Theory]
    [InlineData("not json at all", "not JSON")]
    [InlineData("42", "expected an event object")]
    [InlineData("""{"eventType":"Microsoft.Storage.BlobDeleted","subject":"/blobServices/default/containers/images/blobs/a.jpg","data":{}}""", "BlobDeleted")]
    [InlineData("""{"eventType":"Microsoft.Storage.BlobCreated","subject":"/blobServices/default/containers/other/blobs/a.jpg","data":{}}""", "'other'")]
    [InlineData("""{"eventType":"Microsoft.Storage.BlobCreated","subject":"nothing","data":{}}""", "names no blob")]
    public void Rejects_what_is_not_a_blob_created_event_in_a_scored_container(string json, string reason)
    {
        var parsed = BlobEventParser.Parse(json, "m1", Images);
        Assert.Empty(parsed.Events);
        Assert.Contains(reason, Assert.Single(parsed.Rejected).Reason);
    }

    [Fact]
    public void Unwraps_bodies_the_host_serialized_as_json_strings()
    {
        var body = HostPayloads.EventGridBlobCreated(Url, "images", "a.jpg", "0x1", 1);
        var payload = HostPayloads.ServiceBusBatch([body, body]);
        var request = JsonSerializer.Deserialize<InvocationRequest>(payload.ToJsonString())!;
        var messages = JsonPayload.Items(request.Binding("messages")!.Value);
        Assert.Equal(2, messages.Count);
        Assert.All(messages, m => Assert.Single(BlobEventParser.Parse(m, null, Images).Events));
        Assert.Equal(2, request.MetadataArray("MessageIdArray").Count);
        Assert.Equal(1, request.MetadataArray("DeliveryCountArray")[0].GetInt32());

        var single = JsonSerializer.Deserialize<InvocationRequest>(HostPayloads.ServiceBusSingle(body).ToJsonString())!;
        Assert.Single(BlobEventParser.Parse(single.Binding("message")!.Value, null, Images).Events);
    }

    [Fact]
    public void Reads_the_http_trigger_request_of_the_custom_payload()
    {
        var payload = HostPayloads.HttpRequest("POST", "http://localhost:7071/api/validation-runs", """{"chunkSize":5}""",
            new Dictionary<string, string> { ["x-functions-key"] = "k" }, new Dictionary<string, string> { ["code"] = "c" });
        var request = JsonSerializer.Deserialize<InvocationRequest>(payload.ToJsonString())!;
        var req = HttpTriggerRequest.Parse(request.Binding("req")!.Value);
        Assert.Equal(("POST", "k", "c"), (req.Method, req.Header("X-Functions-Key"), req.QueryValue("code")));
        Assert.Equal(5, JsonSerializer.Deserialize<ValidationRunRequest>(req.Body!, ContractJson.Options)!.ChunkSize);
    }

    [Fact]
    public void Function_keys_compare_exactly()
    {
        Assert.True(FunctionKeys.IsAuthorized(null, null, null));
        Assert.False(FunctionKeys.IsAuthorized("k", null, null));
        Assert.False(FunctionKeys.IsAuthorized("k", "K", null));
        Assert.True(FunctionKeys.IsAuthorized("k", null, "k"));
    }
}
