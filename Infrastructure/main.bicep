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

@description('Where the scoring functions run: a serverless T4 or A100 GPU with the fp32 model, or cpu: the Consumption profile with the int8 model (no GPU workload profile, an image without CUDA).')
@allowed([
  'gpu-t4'
  'gpu-a100'
  'cpu'
])
param scoringProfile string = 'gpu-t4'

@minValue(1)
@maxValue(10)
@description('Most replicas (each one whole GPU) the scoring app may scale to.')
param maxReplicas int = 2

@minValue(1)
@maxValue(10)
@description('Most replicas of the API app (HTTP queries, run creation, timer; Consumption CPUs).')
param apiMaxReplicas int = 3

@description('Scoring app image; azd fills it after the first deploy. Empty uses a placeholder.')
param scoringImage string = ''

@description('API app image: the same image as the scoring app (azd builds it per service). Empty uses a placeholder.')
param apiImage string = ''

@description('Object id of the user running azd: gets blob upload and table read access. Empty to skip.')
param principalId string = ''

@description('Kind of principal principalId is (azd sets AZURE_PRINCIPAL_TYPE: User, or ServicePrincipal in CI).')
@allowed([
  'User'
  'ServicePrincipal'
  'Group'
])
param principalType string = 'User'

@description('Container registry tier. Premium adds artifact streaming, which starts a cold replica before its whole image is pulled (README.md, "Cold starts").')
@allowed([
  'Basic'
  'Standard'
  'Premium'
])
param registrySku string = 'Basic'

@description('E-mail address the alert rules notify; empty creates the rules and an action group with no receiver.')
param alertEmail string = ''

@description('Model blob path (models/<file>.onnx) or a path inside the image; empty takes the profile\'s model (fp32 on a GPU, int8 on cpu).')
param modelLocation string = ''

@description('SHA-256 the model file must match. The postprovision hook (scripts/azd-postprovision.sh) uploads MODEL_FILE, computes it and stores it as MODEL_SHA256; an empty value fails that hook.')
param modelSha256 string = ''

@minValue(1)
@description('Most bytes of images one ScoreImages invocation downloads; the batch is cut to fit so it finishes inside half the Service Bus lock (README.md, "Message locks").')
param scoringMaxBatchBytes int = 268435456

@description('Fraction of traces the handler exports, 0 to 1 (Telemetry__SamplingRatio; a parent-based ratio sampler). Per-image spans stay off (Scoring__ImageSpans).')
param telemetrySamplingRatio string = '0.1'

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
    scoringIdentityName: 'id-scoring-${token}'
    apiIdentityName: 'id-api-${token}'
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
    publisherPrincipalIds: [
      identity.outputs.scoringPrincipalId
      identity.outputs.apiPrincipalId
    ]
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
      'validation-runs'
      'scoring-jobs'
    ]
    hostContainers: [
      'azure-webjobs-hosts'
      'azure-webjobs-secrets'
    ]
    readContainers: [
      'images'
      'validation'
      'models'
    ]
    writeContainers: [
      'validation-runs'
      // Scoring jobs' chunk lists (one blob per listing page, written once by the planner).
      'scoring-jobs'
    ]
    tables: [
      'Predictions'
      'ValidationRuns'
      'ValidationChunks'
      'ValidationPredictions'
      'ScoringJobs'
      'ScoringJobChunks'
      'ModelAliases'
    ]
    deadLetterContainer: 'eventgrid-deadletter'
    scoringPrincipalId: identity.outputs.scoringPrincipalId
    apiPrincipalId: identity.outputs.apiPrincipalId
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
    jobPlansQueue: 'scoring-job-plans'
    jobChunksQueue: 'scoring-job-chunks'
    scoringPrincipalId: identity.outputs.scoringPrincipalId
    apiPrincipalId: identity.outputs.apiPrincipalId
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
    sku: registrySku
    pullPrincipalIds: [
      identity.outputs.scoringPrincipalId
      identity.outputs.apiPrincipalId
    ]
  }
}

module environment 'modules/containerapps-environment.bicep' = {
  name: 'containerapps-environment'
  scope: rg
  params: {
    location: location
    tags: tags
    name: 'cae-${token}'
    gpuProfile: profile.gpu
    logAnalyticsWorkspaceId: monitoring.outputs.logAnalyticsWorkspaceId
  }
}

module alerts 'modules/alerts.bicep' = {
  name: 'alerts'
  scope: rg
  params: {
    location: location
    tags: tags
    name: 'ag-${token}'
    alertEmail: alertEmail
    serviceBusNamespaceId: serviceBus.outputs.id
    queueNames: serviceBus.outputs.queueNames
    eventGridSystemTopicId: eventGrid.outputs.id
    logAnalyticsWorkspaceId: monitoring.outputs.logAnalyticsWorkspaceId
  }
}

// The functions of Functions/function-app/, split by what they need. Service Bus triggered scoring
// needs the GPU; everything else is a short storage query or a fan-out that must not wake (and
// then keep, for the cool-down) a GPU replica.
var scoringFunctions = [
  'PlanScoringJob'
  'ScoreImages'
  'ScoreJobChunk'
  'ScoreValidationChunk'
]
var apiFunctions = [
  'CancelScoringJob'
  'CompareValidationRuns'
  'CreateScoringJob'
  'CreateValidationRun'
  'GetPrediction'
  'GetPredictions'
  'GetPredictionsReport'
  'GetReportPage'
  'GetRunComparisonReport'
  'GetRunHistoryReport'
  'GetScoringJob'
  'GetScoringJobReport'
  'GetThumbnail'
  'GetValidationRun'
  'GetValidationRunReport'
  'Health'
  'HealthDetails'
  'ListScoringJobs'
  'ListValidationRuns'
  'StartValidationRun'
]

// Whole-GPU profiles: a replica may take the profile's full size. Consumption without a GPU tops
// out at 4 vCPU / 8 GiB. 'cuda' is strict: a GPU replica that cannot load CUDA reports Unhealthy
// and fails its invocations instead of scoring slowly on the CPU.
var profiles = {
  'gpu-t4': {
    gpu: 'T4'
    cpu: 8
    memory: '56Gi'
    device: 'cuda'
    model: 'models/convnext_tiny.onnx'
  }
  'gpu-a100': {
    gpu: 'A100'
    cpu: 24
    memory: '220Gi'
    device: 'cuda'
    model: 'models/convnext_tiny.onnx'
  }
  cpu: {
    gpu: 'None'
    cpu: 4
    memory: '8Gi'
    device: 'cpu'
    model: 'models/convnext_tiny-int8.onnx'
  }
}
var profile = profiles[scoringProfile]
var model = empty(modelLocation) ? profile.model : modelLocation

module scoringApp 'modules/functionapp.bicep' = {
  name: 'scoring-app'
  scope: rg
  params: {
    location: location
    tags: tags
    name: 'func-scoring-${token}'
    serviceName: 'scoring'
    environmentId: environment.outputs.id
    workloadProfileName: environment.outputs.gpuWorkloadProfileName
    hostId: 'scoring-${token}'
    cpu: profile.cpu
    memory: profile.memory
    device: profile.device
    disabledFunctions: apiFunctions
    externalIngress: false
    // A long cool-down keeps a warm replica (model loaded) between nearby bursts.
    cooldownPeriod: 600
    maxReplicas: maxReplicas
    image: scoringImage
    registryLoginServer: registry.outputs.loginServer
    identityId: identity.outputs.scoringIdentityId
    identityClientId: identity.outputs.scoringClientId
    blobEndpoint: storage.outputs.blobEndpoint
    tableEndpoint: storage.outputs.tableEndpoint
    serviceBusFullyQualifiedNamespace: serviceBus.outputs.fullyQualifiedNamespace
    applicationInsightsConnectionString: monitoring.outputs.applicationInsightsConnectionString
    modelLocation: model
    modelSha256: modelSha256
    scoringMaxBatchBytes: scoringMaxBatchBytes
    telemetrySamplingRatio: telemetrySamplingRatio
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

module apiApp 'modules/functionapp.bicep' = {
  name: 'api-app'
  scope: rg
  params: {
    location: location
    tags: tags
    name: 'func-api-${token}'
    serviceName: 'api'
    environmentId: environment.outputs.id
    workloadProfileName: environment.outputs.consumptionWorkloadProfileName
    // /api/health and run reports load the model on CPU here (labels, metadata): 2 vCPU / 4 GiB
    // hold convnext_tiny to _base; see README.md for larger models.
    hostId: 'api-${token}'
    cpu: 2
    memory: '4Gi'
    device: 'cpu'
    disabledFunctions: scoringFunctions
    externalIngress: true
    cooldownPeriod: 300
    maxReplicas: apiMaxReplicas
    image: apiImage
    registryLoginServer: registry.outputs.loginServer
    identityId: identity.outputs.apiIdentityId
    identityClientId: identity.outputs.apiClientId
    blobEndpoint: storage.outputs.blobEndpoint
    tableEndpoint: storage.outputs.tableEndpoint
    serviceBusFullyQualifiedNamespace: serviceBus.outputs.fullyQualifiedNamespace
    applicationInsightsConnectionString: monitoring.outputs.applicationInsightsConnectionString
    modelLocation: model
    modelSha256: modelSha256
    scoringMaxBatchBytes: scoringMaxBatchBytes
    telemetrySamplingRatio: telemetrySamplingRatio
    scoringBatchSize: scoringBatchSize
    scoringMaxWaitMilliseconds: scoringMaxWaitMilliseconds
    validationChunkSize: validationChunkSize
    validationSchedule: validationSchedule
    validationContainer: validationContainer
    validationPrefix: validationPrefix
    validationLabels: validationLabels
  }
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
// The app users call (HTTP queries, validation runs); the scoring app has no public endpoint.
output AZURE_FUNCTION_APP_NAME string = apiApp.outputs.name
output AZURE_FUNCTION_APP_URL string = apiApp.outputs.uri
output AZURE_SCORING_APP_NAME string = scoringApp.outputs.name
output AZURE_API_IDENTITY_CLIENT_ID string = identity.outputs.apiClientId
output AZURE_SCORING_IDENTITY_CLIENT_ID string = identity.outputs.scoringClientId
output APPLICATIONINSIGHTS_NAME string = monitoring.outputs.applicationInsightsName
output AZURE_ALERT_RULES string[] = alerts.outputs.ruleNames
output SCORING_PROFILE string = scoringProfile
// azure.yaml passes this to the image build (ONNX_RUNTIME_FLAVOR): no CUDA in the cpu profile's image.
output IMAGE_FLAVOR string = profile.device == 'cuda' ? 'gpu' : 'cpu'
// Not named MODEL_LOCATION: azd would store it under the input's name, and a later change of
// scoringProfile would keep the old profile's model.
output MODEL_BLOB string = model
