// ConvNeXt.Batch on Azure: Functions on Container Apps (serverless GPU) fed by Event Grid and
// Service Bus, results in Table storage. Deploy with `azd up`; see README.md, "Deploy to Azure".
targetScope = 'subscription'

@minLength(1)
@maxLength(64)
@description('azd environment name; names the resource group and seeds resource names.')
param environmentName string

@minLength(1)
@description('Azure region for every resource. It must offer the chosen serverless GPU profile.')
param location string

@description('GPU for the function app: serverless T4, serverless A100, or None for a CPU-only environment on Consumption.')
@allowed([
  'T4'
  'A100'
  'None'
])
param gpuProfile string = 'T4'

@minValue(1)
@maxValue(10)
@description('Most replicas (each one whole GPU) the function app may scale to.')
param maxReplicas int = 2

@description('Function app image; azd fills it after the first deploy. Empty uses a placeholder.')
param functionsImage string = ''

@description('Object id of the user running azd: gets blob upload and table read access. Empty to skip.')
param principalId string = ''

@allowed([
  'User'
  'ServicePrincipal'
  'Group'
])
param principalType string = 'User'

@description('Model blob path (models/<file>.onnx) or a path inside the image.')
param modelLocation string = 'models/convnext_tiny.onnx'

@description('Optional SHA-256 the model file must match.')
param modelSha256 string = ''

@minValue(1)
@maxValue(512)
@description('Images per inference batch.')
param scoringBatchSize int = 16

@minValue(0)
@description('How long a partial batch waits for more images, in milliseconds.')
param scoringMaxWaitMilliseconds int = 50

@minValue(1)
@description('Labelled images per validation chunk (one Service Bus message).')
param validationChunkSize int = 100

@description('NCRONTAB (6 fields) of the scheduled validation run; the default is Sundays 03:00 UTC.')
param validationSchedule string = '0 0 3 * * 0'

param validationContainer string = 'validation'
param validationPrefix string = 'imagenet-val/'

@description('Blob path of the val.txt-style label list for scheduled runs.')
param validationLabels string = 'validation/imagenet-val/val.txt'

var tags = {
  'azd-env-name': environmentName
  application: 'convnext-batch'
}

var token = toLower(uniqueString(subscription().id, environmentName, location))

resource rg 'Microsoft.Resources/resourceGroups@2025-04-01' = {
  name: 'rg-${environmentName}'
  location: location
  tags: tags
}

module identity 'modules/identity.bicep' = {
  name: 'identity'
  scope: rg
  params: {
    location: location
    tags: tags
    appIdentityName: 'id-func-${token}'
    eventGridIdentityName: 'id-evgt-${token}'
  }
}

module monitoring 'modules/monitoring.bicep' = {
  name: 'monitoring'
  scope: rg
  params: {
    location: location
    tags: tags
    logAnalyticsName: 'log-${token}'
    applicationInsightsName: 'appi-${token}'
    publisherPrincipalId: identity.outputs.appPrincipalId
  }
}

module storage 'modules/storage.bicep' = {
  name: 'storage'
  scope: rg
  params: {
    location: location
    tags: tags
    name: 'st${token}'
    // Container, table and queue names are the ones every part of the app agrees on.
    containers: [
      'images'
      'validation'
      'models'
    ]
    tables: [
      'Predictions'
      'ValidationRuns'
      'ValidationChunks'
      'ValidationPredictions'
    ]
    deadLetterContainer: 'eventgrid-deadletter'
    appPrincipalId: identity.outputs.appPrincipalId
    eventGridPrincipalId: identity.outputs.eventGridPrincipalId
    operatorPrincipalId: principalId
    operatorPrincipalType: principalType
  }
}

module serviceBus 'modules/servicebus.bicep' = {
  name: 'servicebus'
  scope: rg
  params: {
    location: location
    tags: tags
    name: 'sb-${token}'
    scoreRequestsQueue: 'score-requests'
    validationChunksQueue: 'validation-chunks'
    appPrincipalId: identity.outputs.appPrincipalId
    eventGridPrincipalId: identity.outputs.eventGridPrincipalId
  }
}

module eventGrid 'modules/eventgrid.bicep' = {
  name: 'eventgrid'
  scope: rg
  params: {
    location: location
    tags: tags
    name: 'evgt-${token}'
    storageAccountId: storage.outputs.id
    imagesContainer: 'images'
    scoreRequestsQueueId: serviceBus.outputs.scoreRequestsQueueId
    deliveryIdentityId: identity.outputs.eventGridIdentityId
    deadLetterContainer: 'eventgrid-deadletter'
  }
  // Event Grid checks it may send to the queue (and write dead letters) when the subscription is
  // created. Using the storage and Service Bus outputs makes this module wait for those modules,
  // role assignments included.
}

module registry 'modules/registry.bicep' = {
  name: 'registry'
  scope: rg
  params: {
    location: location
    tags: tags
    name: 'cr${token}'
    pullPrincipalId: identity.outputs.appPrincipalId
  }
}

module environment 'modules/containerapps-environment.bicep' = {
  name: 'containerapps-environment'
  scope: rg
  params: {
    location: location
    tags: tags
    name: 'cae-${token}'
    gpuProfile: gpuProfile
    logAnalyticsWorkspaceId: monitoring.outputs.logAnalyticsWorkspaceId
  }
}

module functionApp 'modules/functionapp.bicep' = {
  name: 'functionapp'
  scope: rg
  params: {
    location: location
    tags: tags
    name: 'func-${token}'
    serviceName: 'functions'
    environmentId: environment.outputs.id
    workloadProfileName: environment.outputs.appWorkloadProfileName
    gpuProfile: gpuProfile
    image: functionsImage
    registryLoginServer: registry.outputs.loginServer
    identityId: identity.outputs.appIdentityId
    identityClientId: identity.outputs.appClientId
    blobEndpoint: storage.outputs.blobEndpoint
    queueEndpoint: storage.outputs.queueEndpoint
    tableEndpoint: storage.outputs.tableEndpoint
    serviceBusFullyQualifiedNamespace: serviceBus.outputs.fullyQualifiedNamespace
    applicationInsightsConnectionString: monitoring.outputs.applicationInsightsConnectionString
    maxReplicas: maxReplicas
    modelLocation: modelLocation
    modelSha256: modelSha256
    scoringBatchSize: scoringBatchSize
    scoringMaxWaitMilliseconds: scoringMaxWaitMilliseconds
    validationChunkSize: validationChunkSize
    validationSchedule: validationSchedule
    validationContainer: validationContainer
    validationPrefix: validationPrefix
    validationLabels: validationLabels
  }
  // The first revision pulls with AcrPull and starts a host that needs its storage and Service
  // Bus roles: the outputs used above make this module wait for the modules granting them.
}

// Outputs azd stores in the environment (.azure/<env>/.env).
output AZURE_LOCATION string = location
output AZURE_TENANT_ID string = tenant().tenantId
output AZURE_RESOURCE_GROUP string = rg.name
output AZURE_CONTAINER_REGISTRY_ENDPOINT string = registry.outputs.loginServer
output AZURE_CONTAINER_REGISTRY_NAME string = registry.outputs.name
output AZURE_CONTAINER_APPS_ENVIRONMENT_ID string = environment.outputs.id
output AZURE_CONTAINER_APPS_ENVIRONMENT_NAME string = environment.outputs.name
output AZURE_STORAGE_ACCOUNT_NAME string = storage.outputs.name
output AZURE_STORAGE_BLOB_ENDPOINT string = storage.outputs.blobEndpoint
output AZURE_STORAGE_TABLE_ENDPOINT string = storage.outputs.tableEndpoint
output AZURE_SERVICEBUS_NAMESPACE string = serviceBus.outputs.name
output AZURE_SERVICEBUS_FULLY_QUALIFIED_NAMESPACE string = serviceBus.outputs.fullyQualifiedNamespace
output AZURE_EVENTGRID_SYSTEM_TOPIC_NAME string = eventGrid.outputs.name
output AZURE_FUNCTION_APP_NAME string = functionApp.outputs.name
output AZURE_FUNCTION_APP_URL string = functionApp.outputs.uri
output AZURE_FUNCTION_APP_IDENTITY_CLIENT_ID string = identity.outputs.appClientId
output APPLICATIONINSIGHTS_NAME string = monitoring.outputs.applicationInsightsName
output GPU_PROFILE string = gpuProfile
