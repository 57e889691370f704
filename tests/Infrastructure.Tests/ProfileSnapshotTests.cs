using System.Text.Json;
using System.Text.RegularExpressions;

namespace ConvNeXt.Batch.Infrastructure.Tests;

/// <summary>Three deployments of main.bicep on paper (<see cref="TemplateSnapshot"/>), one per scoring profile.</summary>
public sealed class ProfileSnapshots : IAsyncLifetime
{
    public const string OperatorId = "11111111-2222-3333-4444-555555555555";

    public TemplateSnapshot GpuT4 { get; private set; } = null!;
    public TemplateSnapshot GpuA100 { get; private set; } = null!;
    public TemplateSnapshot Cpu { get; private set; } = null!;

    public async Task InitializeAsync()
    {
        // Defaults only (gpu-t4); A100; the cpu profile with every optional parameter set.
        var t4 = TemplateSnapshot.CreateAsync(new Dictionary<string, string>());
        var a100 = TemplateSnapshot.CreateAsync(new Dictionary<string, string> { ["scoringProfile"] = "'gpu-a100'" });
        var cpu = TemplateSnapshot.CreateAsync(new Dictionary<string, string>
        {
            ["scoringProfile"] = "'cpu'",
            ["principalId"] = $"'{OperatorId}'",
            ["principalType"] = "'ServicePrincipal'",
            ["registrySku"] = "'Premium'",
            ["alertEmail"] = "'ops@example.com'",
        });
        (GpuT4, GpuA100, Cpu) = (await t4, await a100, await cpu);
    }

    public Task DisposeAsync() => Task.CompletedTask;
}

public sealed partial class ProfileSnapshotTests(ProfileSnapshots snapshots) : IClassFixture<ProfileSnapshots>
{
    private const string StorageBlobDataOwner = "b7e6dc6d-f1e8-4753-8033-0f276bb0955b";
    private const string StorageBlobDataContributor = "ba92f5b4-2d11-453d-a403-e96b0029c9fe";
    private const string StorageBlobDataReader = "2a2b9908-6ea1-4ae2-8e65-a410df84e7d1";
    private const string StorageTableDataContributor = "0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3";
    private const string ServiceBusDataOwner = "090c5cfd-751d-490a-894a-3ce6f1109419";
    private const string ServiceBusDataSender = "69a216fc-b8fb-44d8-bc22-1f3c2cd27a39";
    private const string ServiceBusDataReceiver = "4f6d3b9b-027b-4f4c-9142-0e5a2a2247e0";

    private static JsonElement WorkloadProfiles(TemplateSnapshot s) =>
        s.OfType("Microsoft.App/managedEnvironments").Single().GetProperty("properties").GetProperty("workloadProfiles");

    [Fact]
    public void Cpu_profile_has_no_gpu_workload_profile_and_scores_with_the_int8_model_on_consumption()
    {
        var cpu = snapshots.Cpu;
        var profiles = WorkloadProfiles(cpu).EnumerateArray().Select(p => p.GetProperty("workloadProfileType").GetString()).ToList();
        Assert.Equal(["Consumption"], profiles);
        Assert.DoesNotContain("GPU", cpu.OfType("Microsoft.App/managedEnvironments").Single().GetRawText(), StringComparison.OrdinalIgnoreCase);

        var scoring = cpu.App("func-scoring-");
        Assert.Equal("Consumption", scoring.GetProperty("properties").GetProperty("workloadProfileName").GetString());
        var env = TemplateSnapshot.Env(scoring);
        Assert.Equal("cpu", env["Scoring__Device"]);
        Assert.Equal("models/convnext_tiny-int8.onnx", env["Model__Location"]);
        var resources = scoring.GetProperty("properties").GetProperty("template").GetProperty("containers")[0].GetProperty("resources");
        Assert.InRange(resources.GetProperty("cpu").GetDouble(), 1, 4); // Consumption: at most 4 vCPU
        // The image azd builds for it has no CUDA (Dockerfile: ONNX_RUNTIME_FLAVOR=cpu skips the CUDA stage).
        Assert.Equal("cpu", cpu.Output("IMAGE_FLAVOR"));
        Assert.Equal("models/convnext_tiny-int8.onnx", cpu.Output("MODEL_BLOB"));
    }

    [Fact]
    public void Gpu_profiles_add_their_serverless_gpu_and_run_the_scoring_app_on_it_with_strict_cuda()
    {
        foreach (var (snapshot, type) in new[] { (snapshots.GpuT4, "Consumption-GPU-NC8as-T4"), (snapshots.GpuA100, "Consumption-GPU-NC24-A100") })
        {
            var profiles = WorkloadProfiles(snapshot).EnumerateArray()
                .ToDictionary(p => p.GetProperty("name").GetString()!, p => p.GetProperty("workloadProfileType").GetString());
            Assert.Equal(new Dictionary<string, string?> { ["Consumption"] = "Consumption", ["gpu"] = type }, profiles);
            var scoring = snapshot.App("func-scoring-");
            Assert.Equal("gpu", scoring.GetProperty("properties").GetProperty("workloadProfileName").GetString());
            var env = TemplateSnapshot.Env(scoring);
            Assert.Equal("cuda", env["Scoring__Device"]); // strict: no silent CPU fallback (auto is not used)
            Assert.Equal("models/convnext_tiny.onnx", env["Model__Location"]);
            Assert.Equal("gpu", snapshot.Output("IMAGE_FLAVOR"));
            // The API app stays on Consumption CPUs whatever the profile.
            var api = snapshot.App("func-api-");
            Assert.Equal("Consumption", api.GetProperty("properties").GetProperty("workloadProfileName").GetString());
            Assert.Equal("cpu", TemplateSnapshot.Env(api)["Scoring__Device"]);
        }
        Assert.Equal("gpu-t4", snapshots.GpuT4.Output("SCORING_PROFILE"));
    }

    [Fact]
    public void Both_apps_are_function_apps_with_their_own_valid_host_id()
    {
        foreach (var snapshot in new[] { snapshots.GpuT4, snapshots.Cpu })
        {
            var ids = new List<string>();
            foreach (var prefix in new[] { "func-scoring-", "func-api-" })
            {
                var app = snapshot.App(prefix);
                Assert.Equal("functionapp", app.GetProperty("kind").GetString());
                // kind is dropped on 2025-07-01 (Azure/terraform-provider-azapi#994); the postprovision hook checks it.
                Assert.Equal("2025-02-02-preview", app.GetProperty("apiVersion").GetString());
                var id = TemplateSnapshot.Env(app)["AzureFunctionsJobHost__id"];
                // The host's rules: 1-32 lower-case letters, digits and single inner dashes.
                Assert.InRange(id.Length, 1, 32);
                Assert.Matches(HostId(), id);
                ids.Add(id);
            }
            Assert.Equal(2, ids.Distinct().Count());
        }
    }

    [Fact]
    public void Apps_hold_blob_roles_per_container_and_the_scaler_can_read_each_queue()
    {
        var grants = snapshots.GpuT4.Grants();
        const string storage = "/providers/Microsoft.Storage/storageAccounts/";
        string Container(string scope) => scope.Contains("/containers/", StringComparison.Ordinal) ? scope[(scope.LastIndexOf('/') + 1)..] : "(account)";

        foreach (var app in new[] { "id-scoring-", "id-api-" })
        {
            var blob = grants.Where(g => g.Principal.StartsWith(app, StringComparison.Ordinal) && g.Scope.Contains(storage, StringComparison.Ordinal)
                                         && g.Role != StorageTableDataContributor)
                .Select(g => (Container(g.Scope), g.Role)).Order().ToList();
            Assert.Equal(new[]
            {
                ("azure-webjobs-hosts", StorageBlobDataOwner), ("azure-webjobs-secrets", StorageBlobDataOwner),
                ("images", StorageBlobDataReader), ("models", StorageBlobDataReader), ("validation", StorageBlobDataReader),
                ("validation-runs", StorageBlobDataContributor), ("scoring-jobs", StorageBlobDataContributor),
            }.Order(), blob);
            // Tables stay account-wide (the host's dated diagnostic tables), Contributor only.
            var table = Assert.Single(grants, g => g.Principal.StartsWith(app, StringComparison.Ordinal) && g.Role == StorageTableDataContributor);
            Assert.EndsWith(storage + table.Scope.Split('/')[^1], table.Scope);
        }
        // No app identity holds a blob role on the whole account.
        Assert.DoesNotContain(grants, g => g.Principal.StartsWith("id-", StringComparison.Ordinal)
                                           && g.Role is StorageBlobDataOwner or StorageBlobDataContributor or StorageBlobDataReader
                                           && !g.Scope.Contains("/containers/", StringComparison.Ordinal));

        // KEDA's scaler and the extension's scale monitor read queue runtime properties: Manage rights,
        // as Azure Service Bus Data Owner on each queue, never on the namespace.
        var serviceBus = grants.Where(g => g.Scope.Contains("Microsoft.ServiceBus", StringComparison.Ordinal))
            .Select(g => (Who: g.Principal.Split('-')[1], g.Role, Queue: g.Scope[(g.Scope.LastIndexOf("/queues/", StringComparison.Ordinal) + 8)..])).Order().ToList();
        Assert.All(grants.Where(g => g.Scope.Contains("Microsoft.ServiceBus", StringComparison.Ordinal)), g => Assert.Contains("/queues/", g.Scope));
        Assert.Equal(new[]
        {
            ("api", ServiceBusDataSender, "validation-chunks"),
            ("api", ServiceBusDataSender, "scoring-job-plans"),
            ("evgt", ServiceBusDataSender, "score-requests"),
            ("scoring", ServiceBusDataOwner, "score-requests"),
            ("scoring", ServiceBusDataOwner, "validation-chunks"),
            ("scoring", ServiceBusDataOwner, "scoring-job-plans"),
            ("scoring", ServiceBusDataOwner, "scoring-job-chunks"),
        }.Order(), serviceBus);
        Assert.DoesNotContain(grants, g => g.Role == ServiceBusDataReceiver);
        var comment = File.ReadAllText(Path.Combine(CompiledTemplate.InfrastructureDirectory, "modules", "servicebus.bicep"));
        Assert.Contains("kedacore/keda#806", comment);
        Assert.Contains("https://keda.sh/docs/latest/scalers/azure-service-bus/", comment);
    }

    [Fact]
    public void Operator_roles_take_the_principal_type_given()
    {
        var operatorGrants = snapshots.Cpu.Grants().Where(g => g.Principal == ProfileSnapshots.OperatorId).ToList();
        Assert.Equal(2, operatorGrants.Count);
        Assert.All(operatorGrants, g => Assert.Equal("ServicePrincipal", g.PrincipalType));
        Assert.DoesNotContain(snapshots.GpuT4.Grants(), g => g.Principal == ProfileSnapshots.OperatorId);

        // azd passes AZURE_PRINCIPAL_TYPE (User for a person, ServicePrincipal in CI).
        using var parameters = JsonDocument.Parse(File.ReadAllText(Path.Combine(CompiledTemplate.InfrastructureDirectory, "main.parameters.json")));
        Assert.Equal("${AZURE_PRINCIPAL_TYPE=User}", parameters.RootElement.GetProperty("parameters").GetProperty("principalType").GetProperty("value").GetString());
    }

    [Fact]
    public void Registry_sku_is_a_parameter()
    {
        static string Sku(TemplateSnapshot s) => s.OfType("Microsoft.ContainerRegistry/registries").Single().GetProperty("sku").GetProperty("name").GetString()!;
        Assert.Equal("Basic", Sku(snapshots.GpuT4));
        Assert.Equal("Premium", Sku(snapshots.Cpu));
    }

    [Fact]
    public void Blobs_keep_versions_and_deleted_containers_and_the_host_containers_exist_before_the_apps()
    {
        var service = snapshots.GpuT4.OfType("Microsoft.Storage/storageAccounts/blobServices").Single().GetProperty("properties");
        Assert.True(service.GetProperty("isVersioningEnabled").GetBoolean());
        Assert.True(service.GetProperty("containerDeleteRetentionPolicy").GetProperty("enabled").GetBoolean());
        Assert.InRange(service.GetProperty("containerDeleteRetentionPolicy").GetProperty("days").GetInt32(), 1, 365);
        Assert.True(service.GetProperty("deleteRetentionPolicy").GetProperty("enabled").GetBoolean());
        var containers = snapshots.GpuT4.OfType("Microsoft.Storage/storageAccounts/blobServices/containers")
            .Select(c => c.GetProperty("name").GetString()!.Split('/')[^1]).Order().ToList();
        Assert.Equal(["azure-webjobs-hosts", "azure-webjobs-secrets", "eventgrid-deadletter", "images", "models", "scoring-jobs", "validation", "validation-runs"], containers);
    }

    [Fact]
    public void Alerts_cover_dead_letters_event_grid_scaler_failed_runs_and_health_and_notify_the_email()
    {
        var s = snapshots.Cpu;
        var group = s.OfType("Microsoft.Insights/actionGroups").Single().GetProperty("properties");
        Assert.Equal("ops@example.com", group.GetProperty("emailReceivers")[0].GetProperty("emailAddress").GetString());
        Assert.Empty(snapshots.GpuT4.OfType("Microsoft.Insights/actionGroups").Single().GetProperty("properties").GetProperty("emailReceivers").EnumerateArray());

        var metric = s.OfType("Microsoft.Insights/metricAlerts").ToDictionary(a => a.GetProperty("name").GetString()!);
        foreach (var queue in new[] { "score-requests", "validation-chunks" })
        {
            var criterion = metric[$"dead-letters-{queue}"].GetProperty("properties").GetProperty("criteria").GetProperty("allOf")[0];
            Assert.Equal(("DeadletteredMessages", "GreaterThan", 0.0), (criterion.GetProperty("metricName").GetString(), criterion.GetProperty("operator").GetString(), criterion.GetProperty("threshold").GetDouble()));
            Assert.Equal(queue, criterion.GetProperty("dimensions")[0].GetProperty("values")[0].GetString());
        }
        foreach (var name in new[] { "DeadLetteredCount", "DroppedEventCount", "DeliveryAttemptFailCount" })
        {
            var alert = metric["eventgrid-" + name.ToLowerInvariant()].GetProperty("properties");
            Assert.Contains("Microsoft.EventGrid/systemTopics", alert.GetProperty("scopes")[0].GetString());
            Assert.Equal(name, alert.GetProperty("criteria").GetProperty("allOf")[0].GetProperty("metricName").GetString());
        }
        var logs = s.OfType("Microsoft.Insights/scheduledQueryRules").ToDictionary(a => a.GetProperty("name").GetString()!,
            a => a.GetProperty("properties").GetProperty("criteria").GetProperty("allOf")[0].GetProperty("query").GetString()!);
        Assert.Contains("KEDAScalerFailed", logs["scaler-errors"]);
        Assert.Contains("\"failed:\"", logs["validation-run-failed"]);
        Assert.Contains("\"health Unhealthy\"", logs["health-unhealthy"]);
        // The texts the log alerts match are the ones the service logs.
        Assert.Contains("\"health Unhealthy: {Error}", File.ReadAllText(Path.Combine(Repository.Root, "Service", "Api", "ServiceHealth.cs")));
        Assert.Contains("\"model load failed\"", logs["health-unhealthy"]);
        Assert.Contains("\"model load failed: {Error}\"", File.ReadAllText(Path.Combine(Repository.Root, "Service", "Services", "ScoringEngine.cs")));
        Assert.Contains("\"validation run {RunId} failed: {Reason}\"", File.ReadAllText(Path.Combine(Repository.Root, "Service", "Validation", "ValidationRunFinalizer.cs")));
        // Every rule notifies the group, and the smoke script's list is the deployment's.
        Assert.All(s.OfType("Microsoft.Insights/metricAlerts"), a => Assert.Contains("actionGroups/ag-", a.GetProperty("properties").GetProperty("actions")[0].GetProperty("actionGroupId").GetString()));
        var expected = JsonSerializer.Deserialize<string[]>(s.Output("AZURE_ALERT_RULES"))!;
        Assert.Equal(expected.Order(), metric.Keys.Concat(logs.Keys).Order());
    }

    [Fact]
    public void Batch_byte_budget_and_telemetry_settings_reach_the_apps()
    {
        var env = TemplateSnapshot.Env(snapshots.GpuT4.App("func-scoring-"));
        var budget = long.Parse(env["Scoring__MaxBatchBytes"], System.Globalization.CultureInfo.InvariantCulture);
        // host.json takes at most 32 messages per batch: each image may have 1/32 of the budget (README.md, "Message locks").
        using var host = JsonDocument.Parse(File.ReadAllText(Path.Combine(Repository.Root, "host.json")));
        var batch = host.RootElement.GetProperty("extensions").GetProperty("serviceBus").GetProperty("maxMessageBatchSize").GetInt32();
        Assert.Equal(32, batch);
        Assert.Equal(256L * 1024 * 1024, budget);
        Assert.Equal(8L * 1024 * 1024, budget / batch);
        Assert.Equal("0.1", env["Telemetry__SamplingRatio"]);
        Assert.Equal("false", env["Scoring__ImageSpans"]);
        Assert.Equal("10", env["Health__CacheSeconds"]);
        Assert.True(int.Parse(env["Scoring__LoadFailureDelaySeconds"], System.Globalization.CultureInfo.InvariantCulture) > 0);
    }

    [GeneratedRegex("^[a-z0-9]+(-[a-z0-9]+)*$")]
    private static partial Regex HostId();
}
