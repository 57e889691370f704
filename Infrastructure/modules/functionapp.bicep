// The function app: a container app of kind 'functionapp' (Azure Functions on Container Apps) on
// the GPU workload profile. Every data-plane connection (storage, Service Bus, Application
// Insights, the registry) authenticates with the one user-assigned identity; there are no
// secrets in this template.

param location string
param tags object
param name string

@description('azd service name; azd finds the app to deploy by this tag.')
param serviceName string

param environmentId string
param workloadProfileName string

@allowed([
  'T4'
  'A100'
  'None'
])
param gpuProfile string

@description('Container image; empty uses a public Functions placeholder until azd deploys ours.')
param image string

param registryLoginServer string

@description('Resource id of the user-assigned identity the app runs as.')
param identityId string

@description('Client id of the same identity (AZURE_CLIENT_ID and every *__clientId setting).')
param identityClientId string

param blobEndpoint string
param queueEndpoint string
param tableEndpoint string
param serviceBusFullyQualifiedNamespace string

@description('Application Insights connection string: an identifier of the component, not a credential (local auth is disabled).')
param applicationInsightsConnectionString string

@minValue(1)
@maxValue(10)
param maxReplicas int

param modelLocation string
param modelSha256 string
param scoringBatchSize int
param scoringMaxWaitMilliseconds int
param validationChunkSize int
param validationSchedule string
param validationContainer string
param validationPrefix string
param validationLabels string

// Whole-GPU profiles: a replica may take the profile's full size. Consumption without a GPU tops
// out at 4 vCPU / 8 GiB; 2 / 4 keeps the CPU-only environment cheap.
var sizes = {
  T4: {
    cpu: 8
    memory: '56Gi'
  }
  A100: {
    cpu: 24
    memory: '220Gi'
  }
  None: {
    cpu: 2
    memory: '4Gi'
  }
}

// The Functions host listens on ASPNETCORE_URLS. Port 8080 lets the image run as a non-root user
// (ports below 1024 need root); setting it here also moves the placeholder image to 8080.
var httpPort = 8080

var placeholderImage = 'mcr.microsoft.com/azure-functions/dotnet8-quickstart-demo:1.0'

var hostSettings = [
  {
    name: 'FUNCTIONS_WORKER_RUNTIME'
    value: 'custom'
  }
  {
    name: 'ASPNETCORE_URLS'
    value: 'http://+:${httpPort}'
  }
  {
    name: 'AzureWebJobsStorage__blobServiceUri'
    value: blobEndpoint
  }
  {
    name: 'AzureWebJobsStorage__queueServiceUri'
    value: queueEndpoint
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
    name: 'APPLICATIONINSIGHTS_AUTHENTICATION_STRING'
    value: 'ClientId=${identityClientId};Authorization=AAD'
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
    value: gpuProfile == 'None' ? 'cpu' : 'cuda'
  }
  {
    name: 'Scoring__IntraOpThreads'
    value: string(sizes[gpuProfile].cpu)
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

resource app 'Microsoft.App/containerApps@2025-07-01' = {
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
        // HTTP functions (queries, POST validation-runs) need a key from the Functions host.
        external: true
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
            cpu: sizes[gpuProfile].cpu
            memory: sizes[gpuProfile].memory
          }
          env: concat(hostSettings, appSettings, modelPin)
        }
      ]
      // Functions on Container Apps derives the KEDA rules from the triggers (host.json's Service
      // Bus batch size sets the messages per replica) and blocks custom rules; the limits below
      // bound the GPU bill: nothing runs while the queues are empty, and at most a few GPUs run
      // at once. A long cool-down keeps a warm replica (model loaded) between nearby bursts.
      scale: {
        minReplicas: 0
        maxReplicas: maxReplicas
        cooldownPeriod: 600
        pollingInterval: 15
      }
    }
  }
}

output name string = app.name
output fqdn string = app.properties.configuration.ingress.fqdn
output uri string = 'https://${app.properties.configuration.ingress.fqdn}'
