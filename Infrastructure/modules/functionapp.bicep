// One function app: a container app of kind 'functionapp' (Azure Functions on Container Apps).
// main.bicep deploys it twice from the same image: the scoring app on the GPU workload profile
// (Service Bus triggered scoring) and the API app on Consumption (HTTP queries, run creation, the
// timer). Each app disables the other's functions with AzureWebJobs.<Function>.Disabled, and every
// data-plane connection (storage, Service Bus, Application Insights, the registry) authenticates
// with the app's own user-assigned identity; there are no secrets in this template.

param location string
param tags object
param name string

@description('azd service name; azd finds the app to deploy by this tag.')
param serviceName string

@minLength(1)
@maxLength(32)
@description('Functions host id (AzureFunctionsJobHost__id): lower-case letters, digits and single dashes. Outside App Service the host otherwise derives it from the machine name, so every replica would keep its own keys and timer locks.')
param hostId string

param environmentId string
param workloadProfileName string

@description('vCPUs and memory of one replica (the whole GPU profile, or a small Consumption size).')
param cpu int
param memory string

@allowed([
  'cpu'
  'cuda'
])
@description('ONNX Runtime execution provider (Scoring__Device).')
param device string

@description('Functions this app must not run (AzureWebJobs.<Function>.Disabled = true).')
param disabledFunctions string[]

@description('Whether the ingress is reachable from the internet (the API app) or only inside the environment.')
param externalIngress bool

@description('Seconds a replica stays after the last event (KEDA cool-down).')
param cooldownPeriod int

@description('Container image; empty uses a public Functions placeholder until azd deploys ours.')
param image string

param registryLoginServer string

@description('Resource id of the user-assigned identity the app runs as.')
param identityId string

@description('Client id of the same identity (AZURE_CLIENT_ID, every *__clientId setting, the telemetry exporter).')
param identityClientId string

param blobEndpoint string
param tableEndpoint string
param serviceBusFullyQualifiedNamespace string

@description('Application Insights connection string: an identifier of the component, not a credential (local auth is disabled).')
param applicationInsightsConnectionString string

@minValue(1)
@maxValue(10)
param maxReplicas int

param modelLocation string
param modelSha256 string

@description('Most image bytes one ScoreImages invocation downloads (Scoring__MaxBatchBytes).')
param scoringMaxBatchBytes int

@description('Fraction of traces exported (Telemetry__SamplingRatio).')
param telemetrySamplingRatio string
param scoringBatchSize int
param scoringMaxWaitMilliseconds int
param validationChunkSize int
param validationSchedule string
param validationContainer string
param validationPrefix string
param validationLabels string

// The Functions host listens on ASPNETCORE_URLS. Port 8080 lets the image run as a non-root user
// (ports below 1024 need root); setting it here also moves the placeholder image to 8080.
var httpPort = 8080

var placeholderImage = 'mcr.microsoft.com/azure-functions/dotnet8-quickstart-demo:1.0'

// The first revision runs before azd has pushed our image. The placeholder is a .NET Functions
// sample: forcing FUNCTIONS_WORKER_RUNTIME=custom on it would make a host with no custom handler
// and no functions. Our image sets FUNCTIONS_WORKER_RUNTIME=custom itself (Dockerfile ENV), and
// the setting is added here only once the image is ours.
var workerRuntime = empty(image)
  ? []
  : [
      {
        name: 'FUNCTIONS_WORKER_RUNTIME'
        value: 'custom'
      }
    ]

var hostSettings = [
  {
    name: 'ASPNETCORE_URLS'
    value: 'http://+:${httpPort}'
  }
  {
    // One id for every replica of this app (shared keys and timer locks), different per app.
    name: 'AzureFunctionsJobHost__id'
    value: hostId
  }
  {
    name: 'AzureWebJobsStorage__blobServiceUri'
    value: blobEndpoint
  }
  {
    name: 'AzureWebJobsStorage__tableServiceUri'
    value: tableEndpoint
  }
  {
    name: 'AzureWebJobsStorage__credential'
    value: 'managedidentity'
  }
  {
    name: 'AzureWebJobsStorage__clientId'
    value: identityClientId
  }
  {
    name: 'ServiceBusConnection__fullyQualifiedNamespace'
    value: serviceBusFullyQualifiedNamespace
  }
  {
    name: 'ServiceBusConnection__credential'
    value: 'managedidentity'
  }
  {
    name: 'ServiceBusConnection__clientId'
    value: identityClientId
  }
  {
    name: 'AZURE_CLIENT_ID'
    value: identityClientId
  }
  {
    // Identifier of the component; the data plane only accepts Entra tokens (see next setting).
    name: 'APPLICATIONINSIGHTS_CONNECTION_STRING'
    value: applicationInsightsConnectionString
  }
  {
    // The host's own telemetry authenticates with this; the handler's exporter reads AZURE_CLIENT_ID.
    name: 'APPLICATIONINSIGHTS_AUTHENTICATION_STRING'
    value: 'ClientId=${identityClientId};Authorization=AAD'
  }
]

var disabledSettings = [
  for function in disabledFunctions: {
    name: 'AzureWebJobs.${function}.Disabled'
    value: 'true'
  }
]

var appSettings = [
  {
    name: 'Storage__BlobServiceUri'
    value: blobEndpoint
  }
  {
    name: 'Storage__TableServiceUri'
    value: tableEndpoint
  }
  {
    name: 'Model__Location'
    value: modelLocation
  }
  {
    // /tmp is writable for the non-root user; the model is re-downloaded after a cold start.
    name: 'Model__CacheDirectory'
    value: '/tmp/convnext-batch/models'
  }
  {
    name: 'Scoring__BatchSize'
    value: string(scoringBatchSize)
  }
  {
    name: 'Scoring__MaxWaitMilliseconds'
    value: string(scoringMaxWaitMilliseconds)
  }
  {
    name: 'Scoring__Device'
    value: device
  }
  {
    name: 'Scoring__MaxBatchBytes'
    value: string(scoringMaxBatchBytes)
  }
  {
    // A model (or CUDA) that cannot load fails each scoring invocation after this wait, so the
    // deliveries of a queue are spread over minutes instead of dead-lettered within seconds.
    name: 'Scoring__LoadFailureDelaySeconds'
    value: '30'
  }
  {
    // Health is checked at most once per this many seconds, however often it is asked.
    name: 'Health__CacheSeconds'
    value: '10'
  }
  {
    name: 'Telemetry__SamplingRatio'
    value: telemetrySamplingRatio
  }
  {
    // A span per image (download, decode) multiplies telemetry volume by the batch size.
    name: 'Scoring__ImageSpans'
    value: 'false'
  }
  {
    name: 'Scoring__IntraOpThreads'
    value: string(cpu)
  }
  {
    name: 'Validation__ChunkSize'
    value: string(validationChunkSize)
  }
  {
    name: 'ValidationSchedule'
    value: validationSchedule
  }
  {
    name: 'ValidationDefaults__Container'
    value: validationContainer
  }
  {
    name: 'ValidationDefaults__Prefix'
    value: validationPrefix
  }
  {
    name: 'ValidationDefaults__Labels'
    value: validationLabels
  }
]

var modelPin = empty(modelSha256)
  ? []
  : [
      {
        name: 'Model__Sha256'
        value: modelSha256
      }
    ]

// 2025-02-02-preview, not 2025-07-01: on 2025-07-01 the service drops `kind` (reported in
// Azure/terraform-provider-azapi#994) and the app becomes a plain container app that never starts
// from zero. scripts/azd-postprovision.sh fails `azd up` unless both apps report kind functionapp.
#disable-next-line use-recent-api-versions
resource app 'Microsoft.App/containerApps@2025-02-02-preview' = {
  name: name
  location: location
  tags: union(tags, {
    'azd-service-name': serviceName
  })
  kind: 'functionapp'
  identity: {
    type: 'UserAssigned'
    userAssignedIdentities: {
      '${identityId}': {}
    }
  }
  properties: {
    environmentId: environmentId
    workloadProfileName: workloadProfileName
    configuration: {
      activeRevisionsMode: 'Single'
      ingress: {
        // HTTP functions (queries, POST validation-runs) need a key from the Functions host; the
        // scoring app serves none, so its ingress stays inside the environment.
        external: externalIngress
        targetPort: httpPort
        transport: 'auto'
        allowInsecure: false
      }
      registries: [
        {
          server: registryLoginServer
          identity: identityId
        }
      ]
    }
    template: {
      containers: [
        {
          name: 'functions'
          image: empty(image) ? placeholderImage : image
          resources: {
            cpu: cpu
            memory: memory
          }
          env: concat(workerRuntime, hostSettings, appSettings, modelPin, disabledSettings)
        }
      ]
      // Functions on Container Apps derives the KEDA rules from the enabled triggers and blocks
      // custom rules; the limits bound the bill: nothing runs while there is no work, and at most
      // maxReplicas replicas (for the scoring app: whole GPUs) run at once.
      scale: {
        minReplicas: 0
        maxReplicas: maxReplicas
        cooldownPeriod: cooldownPeriod
        pollingInterval: 15
      }
    }
  }
}

output name string = app.name
output fqdn string = app.properties.configuration.ingress.fqdn
output uri string = 'https://${app.properties.configuration.ingress.fqdn}'
