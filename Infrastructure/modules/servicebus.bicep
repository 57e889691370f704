// Service Bus namespace (Entra ID only) with the two work queues. A message is one unit of GPU
// work, so its lock must outlast the invocation that holds it: 5 minutes is the Service Bus
// maximum. The host renews locks only for single-message functions (ScoreValidationChunk); a
// ScoreImages batch must finish inside one lock period, which host.json's batch size and
// prefetch are chosen for (README.md, "Message locks").

param location string
param tags object
param name string

@description('Queue that receives BlobCreated events from Event Grid.')
param scoreRequestsQueue string

@description('Queue of validation chunks (K labelled images each).')
param validationChunksQueue string

@description('Queue of scoring job planner steps (a bounded number of listing pages each, then a continuation).')
param jobPlansQueue string

@description('Queue of scoring job chunks (one listing page of stored blobs each).')
param jobChunksQueue string

@description('Principal id of the scoring (GPU) app identity: receives from both queues and its scaler reads their counts.')
param scoringPrincipalId string

@description('Principal id of the API (CPU) app identity: sends validation chunks.')
param apiPrincipalId string

@description('Principal id of the Event Grid delivery identity.')
param eventGridPrincipalId string

import { builtInRoles } from 'roles.bicep'

resource namespace 'Microsoft.ServiceBus/namespaces@2024-01-01' = {
  name: name
  location: location
  tags: tags
  sku: {
    // Standard: Basic lacks topics/transactions and its pricing differs little at this volume.
    name: 'Standard'
    tier: 'Standard'
  }
  properties: {
    disableLocalAuth: true
    minimumTlsVersion: '1.2'
    publicNetworkAccess: 'Enabled'
  }
}

resource scoreRequests 'Microsoft.ServiceBus/namespaces/queues@2024-01-01' = {
  parent: namespace
  name: scoreRequestsQueue
  properties: {
    lockDuration: 'PT5M'
    // An image event is cheap to retry; after 10 failed deliveries it waits in the dead-letter queue.
    maxDeliveryCount: 10
    defaultMessageTimeToLive: 'P7D'
    deadLetteringOnMessageExpiration: true
    requiresSession: false
    requiresDuplicateDetection: false
    enableBatchedOperations: true
    maxSizeInMegabytes: 1024
  }
}

resource validationChunks 'Microsoft.ServiceBus/namespaces/queues@2024-01-01' = {
  parent: namespace
  name: validationChunksQueue
  properties: {
    lockDuration: 'PT5M'
    // A chunk is minutes of GPU time: give up sooner so a poisoned chunk cannot burn the budget.
    maxDeliveryCount: 5
    defaultMessageTimeToLive: 'P2D'
    deadLetteringOnMessageExpiration: true
    requiresSession: false
    requiresDuplicateDetection: false
    enableBatchedOperations: true
    maxSizeInMegabytes: 1024
  }
}

// Scoring jobs: the planner (PlanScoringJob) and the chunks (ScoreJobChunk) run in the scoring app; a planner step
// sends its chunks and its continuation, so the scoring app sends to both queues as well as receiving.
resource jobPlans 'Microsoft.ServiceBus/namespaces/queues@2024-01-01' = {
  parent: namespace
  name: jobPlansQueue
  properties: {
    lockDuration: 'PT5M'
    // A planner step lists a bounded number of pages: cheap to retry, but a step that keeps failing stops the job's planning.
    maxDeliveryCount: 10
    defaultMessageTimeToLive: 'P2D'
    deadLetteringOnMessageExpiration: true
    requiresSession: false
    requiresDuplicateDetection: false
    enableBatchedOperations: true
    maxSizeInMegabytes: 1024
  }
}

resource jobChunks 'Microsoft.ServiceBus/namespaces/queues@2024-01-01' = {
  parent: namespace
  name: jobChunksQueue
  properties: {
    lockDuration: 'PT5M'
    maxDeliveryCount: 5
    defaultMessageTimeToLive: 'P2D'
    deadLetteringOnMessageExpiration: true
    requiresSession: false
    requiresDuplicateDetection: false
    enableBatchedOperations: true
    maxSizeInMegabytes: 1024
  }
}

resource scoringOwnsJobPlans 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(jobPlans.id, scoringPrincipalId, builtInRoles.serviceBusDataOwner)
  scope: jobPlans
  properties: {
    principalId: scoringPrincipalId
    principalType: 'ServicePrincipal'
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', builtInRoles.serviceBusDataOwner)
  }
}

resource scoringOwnsJobChunks 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(jobChunks.id, scoringPrincipalId, builtInRoles.serviceBusDataOwner)
  scope: jobChunks
  properties: {
    principalId: scoringPrincipalId
    principalType: 'ServicePrincipal'
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', builtInRoles.serviceBusDataOwner)
  }
}

// The API app starts jobs (CreateScoringJob sends the first planner step).
resource apiSendsJobPlans 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(jobPlans.id, apiPrincipalId, builtInRoles.serviceBusDataSender)
  scope: jobPlans
  properties: {
    principalId: apiPrincipalId
    principalType: 'ServicePrincipal'
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', builtInRoles.serviceBusDataSender)
  }
}

// The scoring app receives from both queues, and its scaler must read each queue's runtime
// properties (active message count) to wake a replica from zero: KEDA's azure-servicebus scaler
// and the Service Bus extension's scale monitor both call the management "get queue" operation,
// which needs Manage rights (Microsoft.ServiceBus/namespaces/queues/read is not a data action of
// Data Receiver). With Receiver only, the app never scales out from zero. References:
// kedacore/keda#806, microsoft/azure-container-apps#1138, and
// https://keda.sh/docs/latest/scalers/azure-service-bus/ ("Authentication Parameters": Manage
// rights, or the Azure Service Bus Data Owner role for identities). Owner is scoped to each queue,
// not the namespace: the identity can manage these two queues and nothing else.
resource scoringOwnsScoreRequests 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(scoreRequests.id, scoringPrincipalId, builtInRoles.serviceBusDataOwner)
  scope: scoreRequests
  properties: {
    principalId: scoringPrincipalId
    principalType: 'ServicePrincipal'
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', builtInRoles.serviceBusDataOwner)
  }
}

resource scoringOwnsValidationChunks 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(validationChunks.id, scoringPrincipalId, builtInRoles.serviceBusDataOwner)
  scope: validationChunks
  properties: {
    principalId: scoringPrincipalId
    principalType: 'ServicePrincipal'
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', builtInRoles.serviceBusDataOwner)
  }
}

// ...and the API app only sends validation chunks (a run, by HTTP or timer, fans out into them).
resource apiSendsValidationChunks 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(validationChunks.id, apiPrincipalId, builtInRoles.serviceBusDataSender)
  scope: validationChunks
  properties: {
    principalId: apiPrincipalId
    principalType: 'ServicePrincipal'
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', builtInRoles.serviceBusDataSender)
  }
}

// Event Grid delivers BlobCreated events into score-requests and nowhere else.
resource eventGridSendsScoreRequests 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(scoreRequests.id, eventGridPrincipalId, builtInRoles.serviceBusDataSender)
  scope: scoreRequests
  properties: {
    principalId: eventGridPrincipalId
    principalType: 'ServicePrincipal'
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', builtInRoles.serviceBusDataSender)
  }
}

output name string = namespace.name
output id string = namespace.id
// serviceBusEndpoint is 'https://<name>.servicebus.windows.net:443/' in the public cloud; the host
// name is taken from it so sovereign clouds work too.
output fullyQualifiedNamespace string = split(replace(namespace.properties.serviceBusEndpoint, 'https://', ''), ':')[0]
output scoreRequestsQueueId string = scoreRequests.id
output queueNames string[] = [
  scoreRequests.name
  validationChunks.name
  jobPlans.name
  jobChunks.name
]
