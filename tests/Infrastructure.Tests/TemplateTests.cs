using System.Text.Json;

namespace ConvNeXt.Batch.Infrastructure.Tests;

/// <summary>Assertions on the compiled ARM JSON: every resource exists and is wired as designed.</summary>
[Collection(CompiledTemplateCollection.Name)]
public sealed class TemplateTests(CompiledTemplate template)
{
    // Built-in role ids, checked against the Azure built-in roles documentation.
    private const string StorageBlobDataOwner = "b7e6dc6d-f1e8-4753-8033-0f276bb0955b";
    private const string StorageBlobDataContributor = "ba92f5b4-2d11-453d-a403-e96b0029c9fe";
    private const string StorageQueueDataContributor = "974c5e8b-45b9-4653-ba55-5f855dd0fb88";
    private const string StorageTableDataContributor = "0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3";
    private const string StorageTableDataReader = "76199698-9eea-4c19-bc75-cec21354c6b6";
    private const string ServiceBusDataReceiver = "4f6d3b9b-027b-4f4c-9142-0e5a2a2247e0";
    private const string ServiceBusDataSender = "69a216fc-b8fb-44d8-bc22-1f3c2cd27a39";
    private const string ServiceBusDataOwner = "090c5cfd-751d-490a-894a-3ce6f1109419";
    private const string StorageBlobDataReader = "2a2b9908-6ea1-4ae2-8e65-a410df84e7d1";
    private const string AcrPull = "7f951dda-4ed3-4680-a7ca-43fe172d538d";
    private const string MonitoringMetricsPublisher = "3913510d-42f4-4e42-8a64-420c390055eb";

    [Fact]
    public void Template_HoldsNoKeysSecretsOrConnectionStringLookups()
    {
        foreach (var forbidden in new[]
                 {
                     "listKeys", "listConnectionStrings", "listCredentials", "listSecrets", "AccountKey",
                     "SharedAccessKey", "passwordSecretRef", "secretRef", "\"secrets\"", "\"sharedKey\"", "adminPassword",
                 })
            Assert.DoesNotContain(forbidden, template.Json, StringComparison.OrdinalIgnoreCase);
        Assert.DoesNotContain(template.Root.GetProperty("outputs").EnumerateObject(),
            o => o.Name.Contains("ConnectionString", StringComparison.OrdinalIgnoreCase) || o.Name.Contains("Key", StringComparison.OrdinalIgnoreCase));
    }

    [Fact]
    public void Storage_IsEntraOnlyWithTls12AndNoPublicBlobs()
    {
        var storage = template.GetModule("storage").Single("Microsoft.Storage/storageAccounts").GetProperty("properties");
        Assert.False(storage.GetProperty("allowSharedKeyAccess").GetBoolean());
        Assert.False(storage.GetProperty("allowBlobPublicAccess").GetBoolean());
        Assert.Equal("TLS1_2", storage.GetProperty("minimumTlsVersion").GetString());
        Assert.True(storage.GetProperty("supportsHttpsTrafficOnly").GetBoolean());
    }

    [Fact]
    public void Storage_CreatesTheContractContainersAndTables()
    {
        var module = template.GetModule("storage");
        Assert.Equal(["images", "validation", "models", "validation-runs", "scoring-jobs"], Strings(module.Parameter("containers")));
        Assert.Equal(["Predictions", "ValidationRuns", "ValidationChunks", "ValidationPredictions", "ScoringJobs", "ScoringJobChunks", "ModelAliases"],
            Strings(module.Parameter("tables")));

        var containers = module.OfType("Microsoft.Storage/storageAccounts/blobServices/containers")
            .Single(c => c.TryGetProperty("copy", out _) && !c.TryGetProperty("existing", out _));
        Assert.Contains("parameters('containers')", containers.GetProperty("copy").GetProperty("count").GetString());
        Assert.Contains("parameters('containers')", containers.GetProperty("name").GetString());
        Assert.Equal("None", containers.GetProperty("properties").GetProperty("publicAccess").GetString());
        var tables = module.Single("Microsoft.Storage/storageAccounts/tableServices/tables");
        Assert.Contains("parameters('tables')", tables.GetProperty("copy").GetProperty("count").GetRawText());
    }

    [Fact]
    public void ServiceBus_IsEntraOnlyWithBothQueuesSizedForGpuBatches()
    {
        var module = template.GetModule("servicebus");
        var ns = module.Single("Microsoft.ServiceBus/namespaces");
        Assert.True(ns.GetProperty("properties").GetProperty("disableLocalAuth").GetBoolean());

        var queues = module.OfType("Microsoft.ServiceBus/namespaces/queues")
            .ToDictionary(q => module.Resolve(q.GetProperty("name").GetString()!).Split('/')[^1]);
        Assert.Equal(["score-requests", "scoring-job-chunks", "scoring-job-plans", "validation-chunks"], queues.Keys.Order());
        foreach (var queue in queues.Values.Select(q => q.GetProperty("properties")))
        {
            Assert.Equal("PT5M", queue.GetProperty("lockDuration").GetString());
            Assert.InRange(queue.GetProperty("maxDeliveryCount").GetInt32(), 5, 10);
            Assert.True(queue.GetProperty("deadLetteringOnMessageExpiration").GetBoolean());
            Assert.False(queue.GetProperty("requiresSession").GetBoolean());
        }
    }

    [Fact]
    public void EventGrid_DeliversBlobCreatedUnderImagesToScoreRequestsWithIdentity()
    {
        var module = template.GetModule("eventgrid");
        var topic = module.Single("Microsoft.EventGrid/systemTopics");
        Assert.Equal("Microsoft.Storage.StorageAccounts", topic.GetProperty("properties").GetProperty("topicType").GetString());
        Assert.Contains("storageAccountId", topic.GetProperty("properties").GetProperty("source").GetString());
        Assert.Equal("UserAssigned", topic.GetProperty("identity").GetProperty("type").GetString());

        var subscription = module.Single("Microsoft.EventGrid/systemTopics/eventSubscriptions").GetProperty("properties");
        var filter = subscription.GetProperty("filter");
        Assert.Equal(["Microsoft.Storage.BlobCreated"], Strings(filter.GetProperty("includedEventTypes")));
        Assert.Equal("/blobServices/default/containers/images/", module.Resolve(filter.GetProperty("subjectBeginsWith").GetString()!));

        var delivery = subscription.GetProperty("deliveryWithResourceIdentity");
        Assert.Equal("UserAssigned", delivery.GetProperty("identity").GetProperty("type").GetString());
        Assert.Equal("[parameters('deliveryIdentityId')]", delivery.GetProperty("identity").GetProperty("userAssignedIdentity").GetString());
        Assert.Equal("ServiceBusQueue", delivery.GetProperty("destination").GetProperty("endpointType").GetString());
        Assert.Equal("[parameters('scoreRequestsQueueId')]", delivery.GetProperty("destination").GetProperty("properties").GetProperty("resourceId").GetString());
        Assert.False(subscription.TryGetProperty("destination", out _), "a plain destination would deliver with keys");
        // Every blob, empty ones included, must reach the app so it can record an error row.
        Assert.False(filter.TryGetProperty("advancedFilters", out _));

        // The queue id and identity come from the Service Bus module and the Event Grid identity.
        // The module's deployment name, or its symbolic name where the template uses symbolic names.
        Assert.Contains("'servicebus'", module.Parameter("scoreRequestsQueueId").GetString(), StringComparison.OrdinalIgnoreCase);
        Assert.Contains("outputs.scoreRequestsQueueId", module.Parameter("scoreRequestsQueueId").GetString());
        Assert.Contains("outputs.eventGridIdentityId", module.Parameter("deliveryIdentityId").GetString());
        var queueOutput = template.GetModule("servicebus").Template.GetProperty("outputs").GetProperty("scoreRequestsQueueId").GetProperty("value").GetString();
        Assert.Contains("parameters('scoreRequestsQueue')", queueOutput);
    }

    [Fact]
    public void EventGridIdentity_MaySendOnlyToScoreRequests()
    {
        var module = template.GetModule("servicebus");
        var grants = RoleAssignments(module).Where(a => Principal(a) == "eventGridPrincipalId").ToList();
        var grant = Assert.Single(grants);
        Assert.Equal(ServiceBusDataSender, module.RoleGuid(grant));
        Assert.Contains("parameters('scoreRequestsQueue')", grant.GetProperty("scope").GetString());
        Assert.Equal("score-requests", module.Parameter("scoreRequestsQueue").GetString());
        Assert.Contains("outputs.eventGridPrincipalId", module.Parameter("eventGridPrincipalId").GetString());
    }

    [Fact]
    public void Registry_HasNoAdminUser()
    {
        var registry = template.GetModule("registry").Single("Microsoft.ContainerRegistry/registries");
        Assert.False(registry.GetProperty("properties").GetProperty("adminUserEnabled").GetBoolean());
    }

    [Fact]
    public void ApplicationInsights_AcceptsOnlyEntraTelemetry()
    {
        var module = template.GetModule("monitoring");
        var insights = module.Single("Microsoft.Insights/components").GetProperty("properties");
        Assert.True(insights.GetProperty("DisableLocalAuth").GetBoolean());
        Assert.Contains("Microsoft.OperationalInsights/workspaces", insights.GetProperty("WorkspaceResourceId").GetString());
        var workspace = module.Single("Microsoft.OperationalInsights/workspaces").GetProperty("properties");
        Assert.True(workspace.GetProperty("features").GetProperty("disableLocalAuth").GetBoolean());
    }

    [Fact]
    public void Environment_OffersConsumptionAndTheServerlessGpuProfiles()
    {
        var module = template.GetModule("containerapps-environment");
        var types = module.Variable("gpuWorkloadProfileTypes");
        Assert.Equal("Consumption-GPU-NC8as-T4", types.GetProperty("T4").GetString());
        Assert.Equal("Consumption-GPU-NC24-A100", types.GetProperty("A100").GetString());
        Assert.Equal("Consumption", module.Variable("consumptionProfile")[0].GetProperty("workloadProfileType").GetString());

        var environment = module.Single("Microsoft.App/managedEnvironments").GetProperty("properties");
        Assert.Equal("[concat(variables('consumptionProfile'), variables('gpuProfiles'))]", environment.GetProperty("workloadProfiles").GetString());
        Assert.Equal("azure-monitor", environment.GetProperty("appLogsConfiguration").GetProperty("destination").GetString());
        var gpuProfiles = module.Variable("gpuProfiles").GetString()!;
        Assert.Contains("equals(parameters('gpuProfile'), 'None')", gpuProfiles);

        var allowed = template.Root.GetProperty("parameters").GetProperty("scoringProfile").GetProperty("allowedValues");
        Assert.Equal(["gpu-t4", "gpu-a100", "cpu"], Strings(allowed));
        Assert.Equal("[variables('profile').gpu]", module.Parameter("gpuProfile").GetString());
        var outputs = module.Template.GetProperty("outputs");
        Assert.Contains("variables('gpuWorkloadProfileName')", outputs.GetProperty("gpuWorkloadProfileName").GetProperty("value").GetString());
        Assert.Equal("[variables('consumptionProfile')[0].name]", outputs.GetProperty("consumptionWorkloadProfileName").GetProperty("value").GetString());
        Assert.Equal("Consumption", module.Variable("consumptionProfile")[0].GetProperty("name").GetString());
        Assert.Single(module.OfType("Microsoft.Insights/diagnosticSettings"));
    }

    private static readonly string[] Apps = ["scoring-app", "api-app"];

    /// <summary>Function name → trigger type, from Functions/function-app/*/function.json.</summary>
    private static Dictionary<string, string> FunctionTriggers() =>
        Directory.GetDirectories(Path.Combine(Repository.Root, "Functions", "function-app")).ToDictionary(
            d => Path.GetFileName(d),
            d =>
            {
                using var doc = JsonDocument.Parse(File.ReadAllText(Path.Combine(d, "function.json")));
                return doc.RootElement.GetProperty("bindings").EnumerateArray()
                    .Select(b => b.GetProperty("type").GetString()!).Single(t => t.EndsWith("Trigger", StringComparison.Ordinal));
            });

    [Fact]
    public void Apps_SplitTheFunctions_ServiceBusScoringOnTheGpu_EverythingElseOnConsumption()
    {
        var variables = template.Root.GetProperty("variables");
        var scoring = Strings(variables.GetProperty("scoringFunctions"));
        var api = Strings(variables.GetProperty("apiFunctions"));
        var triggers = FunctionTriggers();

        // Every function runs in exactly one app; the scoring app gets exactly the Service Bus triggers.
        Assert.Equal(triggers.Keys.Order(), scoring.Concat(api).Order());
        Assert.Empty(scoring.Intersect(api));
        Assert.Equal(triggers.Where(t => t.Value == "serviceBusTrigger").Select(t => t.Key).Order(), scoring.Order());
        Assert.Contains("Health", api);
        Assert.Contains("StartValidationRun", api);

        // Each app disables the other's functions.
        Assert.Equal("[variables('apiFunctions')]", template.GetModule("scoring-app").Parameter("disabledFunctions").GetString());
        Assert.Equal("[variables('scoringFunctions')]", template.GetModule("api-app").Parameter("disabledFunctions").GetString());
        foreach (var name in Apps)
        {
            var module = template.GetModule(name);
            var copy = module.Template.GetProperty("variables").GetProperty("copy").EnumerateArray().Single(c => c.GetProperty("name").GetString() == "disabledSettings");
            Assert.Equal("[length(parameters('disabledFunctions'))]", copy.GetProperty("count").GetString());
            Assert.Equal("[format('AzureWebJobs.{0}.Disabled', parameters('disabledFunctions')[copyIndex('disabledSettings')])]",
                copy.GetProperty("input").GetProperty("name").GetString());
            Assert.Equal("true", copy.GetProperty("input").GetProperty("value").GetString());
            Assert.Contains("variables('disabledSettings')", Env(module));
        }
    }

    [Fact]
    public void Apps_RunOnTheirProfiles_ScoringOnTheGpuWithoutPublicIngress_ApiOnConsumption()
    {
        var scoring = template.GetModule("scoring-app");
        var api = template.GetModule("api-app");
        Assert.Contains("outputs.gpuWorkloadProfileName", scoring.Parameter("workloadProfileName").GetString());
        Assert.Contains("outputs.consumptionWorkloadProfileName", api.Parameter("workloadProfileName").GetString());
        Assert.Equal("[variables('profile').device]", scoring.Parameter("device").GetString());
        Assert.Equal("cpu", api.Parameter("device").GetString());
        Assert.False(scoring.Parameter("externalIngress").GetBoolean());
        Assert.True(api.Parameter("externalIngress").GetBoolean());
        Assert.Equal("[variables('profile').cpu]", scoring.Parameter("cpu").GetString());
        // Consumption: at most 4 vCPU / 8 GiB per replica.
        Assert.InRange(api.Parameter("cpu").GetInt32(), 1, 4);
        var sizes = template.Root.GetProperty("variables").GetProperty("profiles");
        Assert.Equal(8, sizes.GetProperty("gpu-t4").GetProperty("cpu").GetInt32());
        Assert.Equal(24, sizes.GetProperty("gpu-a100").GetProperty("cpu").GetInt32());
        Assert.InRange(sizes.GetProperty("cpu").GetProperty("cpu").GetInt32(), 1, 4);
        Assert.Equal(("T4", "A100", "None"), (sizes.GetProperty("gpu-t4").GetProperty("gpu").GetString(),
            sizes.GetProperty("gpu-a100").GetProperty("gpu").GetString(), sizes.GetProperty("cpu").GetProperty("gpu").GetString()));
        Assert.Equal("scoring", scoring.Parameter("serviceName").GetString());
        Assert.Equal("api", api.Parameter("serviceName").GetString());
        Assert.Equal("[parameters('scoringImage')]", scoring.Parameter("image").GetString());
        Assert.Equal("[parameters('apiImage')]", api.Parameter("image").GetString());

        foreach (var module in new[] { scoring, api })
        {
            var app = module.Single("Microsoft.App/containerApps");
            Assert.Equal("functionapp", app.GetProperty("kind").GetString());
            // 'kind' is honoured on 2025-02-02-preview and dropped on 2025-07-01 (Azure/terraform-provider-azapi#994).
            Assert.Equal("2025-02-02-preview", app.GetProperty("apiVersion").GetString());
            var properties = app.GetProperty("properties");
            Assert.Equal("[parameters('workloadProfileName')]", properties.GetProperty("workloadProfileName").GetString());
            Assert.Equal("[parameters('externalIngress')]", properties.GetProperty("configuration").GetProperty("ingress").GetProperty("external").GetString());
            Assert.Equal("UserAssigned", app.GetProperty("identity").GetProperty("type").GetString());
            var registry = Assert.Single(properties.GetProperty("configuration").GetProperty("registries").EnumerateArray());
            Assert.Equal("[parameters('identityId')]", registry.GetProperty("identity").GetString());
            Assert.False(properties.GetProperty("configuration").TryGetProperty("secrets", out _));
            var scale = properties.GetProperty("template").GetProperty("scale");
            Assert.Equal(0, scale.GetProperty("minReplicas").GetInt32());
            Assert.Equal("[parameters('maxReplicas')]", scale.GetProperty("maxReplicas").GetString());
            Assert.Equal(8080, module.Variable("httpPort").GetInt32());
        }
        Assert.Equal("[parameters('maxReplicas')]", scoring.Parameter("maxReplicas").GetString());
        Assert.Equal("[parameters('apiMaxReplicas')]", api.Parameter("maxReplicas").GetString());
    }

    [Fact]
    public void Apps_PlaceholderRevision_KeepsTheSamplesOwnWorkerRuntime()
    {
        // A placeholder image with FUNCTIONS_WORKER_RUNTIME=custom would start a host with no
        // handler and no functions; the setting comes only with our image.
        var module = template.GetModule("scoring-app");
        Assert.Equal("[if(empty(parameters('image')), createArray(), createArray(createObject('name', 'FUNCTIONS_WORKER_RUNTIME', 'value', 'custom')))]",
            module.Variable("workerRuntime").GetString());
        Assert.DoesNotContain(module.Variable("hostSettings").EnumerateArray(), s => s.GetProperty("name").GetString() == "FUNCTIONS_WORKER_RUNTIME");
        Assert.StartsWith("[concat(variables('workerRuntime'), ", Env(module));
    }

    [Fact]
    public void Apps_ConnectToEveryServiceWithTheirOwnManagedIdentity()
    {
        foreach (var (name, identity) in new[] { ("scoring-app", "scoring"), ("api-app", "api") })
        {
            var module = template.GetModule(name);
            var settings = module.Variable("hostSettings").EnumerateArray()
                .Concat(module.Variable("appSettings").EnumerateArray())
                .ToDictionary(s => s.GetProperty("name").GetString()!, s => s.GetProperty("value").GetString()!);

            Assert.Equal("[parameters('blobEndpoint')]", settings["AzureWebJobsStorage__blobServiceUri"]);
            Assert.Equal("[parameters('tableEndpoint')]", settings["AzureWebJobsStorage__tableServiceUri"]);
            Assert.DoesNotContain("AzureWebJobsStorage__queueServiceUri", settings.Keys);
            Assert.Equal("[parameters('serviceBusFullyQualifiedNamespace')]", settings["ServiceBusConnection__fullyQualifiedNamespace"]);
            foreach (var connection in new[] { "AzureWebJobsStorage", "ServiceBusConnection" })
            {
                Assert.Equal("managedidentity", settings[connection + "__credential"]);
                Assert.Equal("[parameters('identityClientId')]", settings[connection + "__clientId"]);
            }
            // The handler's exporter builds its managed-identity credential from AZURE_CLIENT_ID.
            Assert.Equal("[parameters('identityClientId')]", settings["AZURE_CLIENT_ID"]);
            Assert.Equal("[format('ClientId={0};Authorization=AAD', parameters('identityClientId'))]", settings["APPLICATIONINSIGHTS_AUTHENTICATION_STRING"]);
            Assert.Equal("[parameters('applicationInsightsConnectionString')]", settings["APPLICATIONINSIGHTS_CONNECTION_STRING"]);
            Assert.Equal("[parameters('blobEndpoint')]", settings["Storage__BlobServiceUri"]);
            Assert.Equal("[parameters('tableEndpoint')]", settings["Storage__TableServiceUri"]);
            Assert.Equal("[parameters('device')]", settings["Scoring__Device"]);
            Assert.DoesNotContain("Storage__ConnectionString", settings.Keys);
            foreach (var setting in new[]
                     {
                         "Model__Location", "Model__CacheDirectory", "Scoring__BatchSize", "Scoring__MaxWaitMilliseconds",
                         "Scoring__IntraOpThreads", "Validation__ChunkSize", "ValidationSchedule",
                         "ValidationDefaults__Container", "ValidationDefaults__Prefix", "ValidationDefaults__Labels",
                     })
                Assert.Contains(setting, settings.Keys);
            Assert.Contains("'Model__Sha256'", module.Variable("modelPin").GetString());

            // Each app gets its own identity from the identity module.
            Assert.Contains($"outputs.{identity}ClientId", module.Parameter("identityClientId").GetString());
            Assert.Contains($"outputs.{identity}IdentityId", module.Parameter("identityId").GetString());
            Assert.Contains("outputs.blobEndpoint", module.Parameter("blobEndpoint").GetString());
            Assert.Contains("outputs.fullyQualifiedNamespace", module.Parameter("serviceBusFullyQualifiedNamespace").GetString());
        }
        var schedule = template.Root.GetProperty("parameters").GetProperty("validationSchedule").GetProperty("defaultValue").GetString()!;
        Assert.Equal(6, schedule.Split(' ').Length);
    }

    private static string Env(CompiledTemplate.Module module) =>
        module.Single("Microsoft.App/containerApps").GetProperty("properties").GetProperty("template")
            .GetProperty("containers")[0].GetProperty("env").GetString()!;

    [Fact]
    public void RoleAssignments_UseTheBuiltInRoleIdsWithNarrowScopes()
    {
        var roles = template.Modules.First(m => m.Template.TryGetProperty("variables", out var v) && v.TryGetProperty("builtInRoles", out _))
            .Variable("builtInRoles");
        Assert.Equal(StorageBlobDataOwner, roles.GetProperty("storageBlobDataOwner").GetString());
        Assert.Equal(StorageBlobDataContributor, roles.GetProperty("storageBlobDataContributor").GetString());
        Assert.Equal(StorageQueueDataContributor, roles.GetProperty("storageQueueDataContributor").GetString());
        Assert.Equal(StorageTableDataContributor, roles.GetProperty("storageTableDataContributor").GetString());
        Assert.Equal(StorageTableDataReader, roles.GetProperty("storageTableDataReader").GetString());
        Assert.Equal(ServiceBusDataReceiver, roles.GetProperty("serviceBusDataReceiver").GetString());
        Assert.Equal(ServiceBusDataSender, roles.GetProperty("serviceBusDataSender").GetString());
        Assert.Equal(ServiceBusDataOwner, roles.GetProperty("serviceBusDataOwner").GetString());
        Assert.Equal(StorageBlobDataReader, roles.GetProperty("storageBlobDataReader").GetString());
        Assert.Equal(AcrPull, roles.GetProperty("acrPull").GetString());
        Assert.Equal(MonitoringMetricsPublisher, roles.GetProperty("monitoringMetricsPublisher").GetString());

        // (module, principal parameter, role, scope symbol or expression fragment): each identity
        // holds only what its functions need.
        var expected = new (string Module, string Principal, string Role, string Scope)[]
        {
            // Blob roles per container are one copy loop (appBlobRoles), checked per identity and container
            // in ProfileSnapshotTests; the table roles stay account-wide.
            ("storage", "scoringPrincipalId", StorageTableDataContributor, "Microsoft.Storage/storageAccounts'"),
            ("storage", "apiPrincipalId", StorageTableDataContributor, "Microsoft.Storage/storageAccounts'"),
            ("storage", "eventGridPrincipalId", StorageBlobDataContributor, "parameters('deadLetterContainer')"),
            ("storage", "operatorPrincipalId", StorageBlobDataContributor, "Microsoft.Storage/storageAccounts'"),
            ("storage", "operatorPrincipalId", StorageTableDataReader, "Microsoft.Storage/storageAccounts'"),
            ("servicebus", "scoringPrincipalId", ServiceBusDataOwner, "parameters('scoreRequestsQueue')"),
            ("servicebus", "scoringPrincipalId", ServiceBusDataOwner, "parameters('validationChunksQueue')"),
            ("servicebus", "apiPrincipalId", ServiceBusDataSender, "parameters('validationChunksQueue')"),
            ("servicebus", "eventGridPrincipalId", ServiceBusDataSender, "parameters('scoreRequestsQueue')"),
            // Scoring jobs: the scoring app plans and scores (receives and sends both queues), the API app starts jobs.
            ("servicebus", "scoringPrincipalId", ServiceBusDataOwner, "parameters('jobPlansQueue')"),
            ("servicebus", "scoringPrincipalId", ServiceBusDataOwner, "parameters('jobChunksQueue')"),
            ("servicebus", "apiPrincipalId", ServiceBusDataSender, "parameters('jobPlansQueue')"),
            // One assignment per app identity (a copy loop over the list main passes, checked below).
            ("registry", "pullPrincipalIds", AcrPull, "Microsoft.ContainerRegistry/registries"),
            ("monitoring", "publisherPrincipalIds", MonitoringMetricsPublisher, "Microsoft.Insights/components"),
        };
        var actual = template.Modules.SelectMany(m => RoleAssignments(m).Where(a => !IsBlobGrantLoop(a)).Select(a =>
            (Module: m.Name, Principal: Principal(a), Role: m.RoleGuid(a), Scope: a.GetProperty("scope").GetString()!))).ToList();

        Assert.Equal(expected.Length, actual.Count);
        foreach (var (module, list) in new[] { ("registry", "pullPrincipalIds"), ("monitoring", "publisherPrincipalIds") })
        {
            var passed = template.GetModule(module).Parameter(list).EnumerateArray().Select(e => e.GetString()!).ToList();
            Assert.Equal(2, passed.Count);
            Assert.Contains(passed, p => p.Contains("outputs.scoringPrincipalId"));
            Assert.Contains(passed, p => p.Contains("outputs.apiPrincipalId"));
            var loop = Assert.Single(RoleAssignments(template.GetModule(module)));
            Assert.Equal($"[length(parameters('{list}'))]", loop.GetProperty("copy").GetProperty("count").GetString());
        }
        foreach (var e in expected)
            Assert.Contains(actual, a => a.Module == e.Module && a.Principal == e.Principal && a.Role == e.Role && a.Scope.Contains(e.Scope));
        // No assignment at resource-group or subscription scope, and none to the owner-type roles.
        Assert.All(actual, a => Assert.Contains("resourceId(", a.Scope));
        Assert.All(template.Modules.SelectMany(RoleAssignments), a => Assert.Contains(
            "subscriptionResourceId('Microsoft.Authorization/roleDefinitions'", a.GetProperty("properties").GetProperty("roleDefinitionId").GetString()));
    }

    [Fact]
    public void Outputs_GiveAzdWhatItNeeds()
    {
        var outputs = template.Root.GetProperty("outputs");
        foreach (var name in new[]
                 {
                     "AZURE_LOCATION", "AZURE_TENANT_ID", "AZURE_RESOURCE_GROUP", "AZURE_CONTAINER_REGISTRY_ENDPOINT",
                     "AZURE_CONTAINER_APPS_ENVIRONMENT_ID", "AZURE_STORAGE_ACCOUNT_NAME", "AZURE_SERVICEBUS_NAMESPACE",
                     "AZURE_FUNCTION_APP_NAME", "AZURE_FUNCTION_APP_URL", "AZURE_SCORING_APP_NAME",
                     "SCORING_PROFILE", "IMAGE_FLAVOR", "MODEL_BLOB", "AZURE_ALERT_RULES",
                 })
            Assert.True(outputs.TryGetProperty(name, out _), "missing output " + name);
        Assert.Contains("outputs.loginServer", outputs.GetProperty("AZURE_CONTAINER_REGISTRY_ENDPOINT").GetProperty("value").GetString());
        // Users call the API app; the scoring app has no public endpoint.
        Assert.Matches("(?i)'api-?app'", outputs.GetProperty("AZURE_FUNCTION_APP_URL").GetProperty("value").GetString());
    }

    [Fact]
    public void ParametersFile_SetsOnlyDeclaredParameters()
    {
        using var file = JsonDocument.Parse(File.ReadAllText(Path.Combine(CompiledTemplate.InfrastructureDirectory, "main.parameters.json")));
        var declared = template.Root.GetProperty("parameters");
        var set = file.RootElement.GetProperty("parameters").EnumerateObject().ToList();
        Assert.NotEmpty(set);
        foreach (var parameter in set)
            Assert.True(declared.TryGetProperty(parameter.Name, out _), $"main.parameters.json sets undeclared parameter '{parameter.Name}'");
        Assert.Equal("${AZURE_ENV_NAME}", set.Single(p => p.Name == "environmentName").Value.GetProperty("value").GetString());
        Assert.Equal("${AZURE_LOCATION}", set.Single(p => p.Name == "location").Value.GetProperty("value").GetString());
        // azd substitutes ${VAR} as text, so only string parameters may take one.
        foreach (var parameter in set.Where(p => p.Value.GetProperty("value").ValueKind == JsonValueKind.String))
            Assert.Equal("string", declared.GetProperty(parameter.Name).GetProperty("type").GetString());
        // Required parameters (no default) must be set by the file.
        foreach (var parameter in declared.EnumerateObject().Where(p => !p.Value.TryGetProperty("defaultValue", out _)))
            Assert.Contains(set, s => s.Name == parameter.Name);
    }

    private static bool IsBlobGrantLoop(JsonElement assignment) =>
        assignment.GetProperty("properties").GetProperty("principalId").GetString()!.Contains("variables('blobGrants')", StringComparison.Ordinal);

    private static IEnumerable<JsonElement> RoleAssignments(CompiledTemplate.Module module) =>
        module.OfType("Microsoft.Authorization/roleAssignments");

    private static string Principal(JsonElement assignment) =>
        assignment.GetProperty("properties").GetProperty("principalId").GetString()!
            .Replace("[parameters('", "").Replace("')[copyIndex()]]", "").Replace("')]", "");

    private static string[] Strings(JsonElement array) => array.EnumerateArray().Select(e => e.GetString()!).ToArray();
}
