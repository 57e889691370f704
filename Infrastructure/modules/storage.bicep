// Storage account for the drop zone, labelled validation sets, ONNX models, the result tables and
// the Functions host's own state. Entra ID only: shared keys and SAS are disabled.

param location string
param tags object
param name string

@description('Blob containers to create.')
param containers string[]

@description('Result tables to create.')
param tables string[]

@description('Container Event Grid writes undeliverable events to.')
param deadLetterContainer string

@description('Principal id of the scoring (GPU) app identity.')
param scoringPrincipalId string

@description('Principal id of the API (CPU) app identity.')
param apiPrincipalId string

@description('Principal id of the Event Grid delivery identity (dead-letter writes only).')
param eventGridPrincipalId string

@description('Optional operator principal (the azd user) that uploads images and reads results; empty to skip.')
param operatorPrincipalId string = ''

@allowed([
  'User'
  'ServicePrincipal'
  'Group'
])
param operatorPrincipalType string = 'User'

import { builtInRoles } from 'roles.bicep'

resource storage 'Microsoft.Storage/storageAccounts@2025-01-01' = {
  name: name
  location: location
  tags: tags
  kind: 'StorageV2'
  sku: {
    name: 'Standard_LRS'
  }
  properties: {
    minimumTlsVersion: 'TLS1_2'
    supportsHttpsTrafficOnly: true
    allowBlobPublicAccess: false
    allowSharedKeyAccess: false
    defaultToOAuthAuthentication: true
    allowCrossTenantReplication: false
    publicNetworkAccess: 'Enabled'
    accessTier: 'Hot'
    encryption: {
      keySource: 'Microsoft.Storage'
      services: {
        blob: {
          enabled: true
        }
        table: {
          enabled: true
        }
        queue: {
          enabled: true
        }
      }
    }
  }
}

resource blobService 'Microsoft.Storage/storageAccounts/blobServices@2025-01-01' = {
  parent: storage
  name: 'default'
  properties: {
    deleteRetentionPolicy: {
      enabled: true
      days: 7
    }
  }
}

resource blobContainers 'Microsoft.Storage/storageAccounts/blobServices/containers@2025-01-01' = [
  for container in concat(containers, [deadLetterContainer]): {
    parent: blobService
    name: container
    properties: {
      publicAccess: 'None'
    }
  }
]

resource tableService 'Microsoft.Storage/storageAccounts/tableServices@2025-01-01' = {
  parent: storage
  name: 'default'
}

resource resultTables 'Microsoft.Storage/storageAccounts/tableServices/tables@2025-01-01' = [
  for table in tables: {
    parent: tableService
    name: table
  }
]

// Both app identities get the same two roles, at account scope on purpose: each app runs a
// Functions host that keeps its keys, timer state and locks as blobs (Blob Data Owner: leases) in
// containers it creates itself (azure-webjobs-hosts, azure-webjobs-secrets), and dated diagnostic
// tables next to ours, which container- or table-scoped assignments would not cover. The scoring
// app reads images, validation sets and models and writes result rows; the API app reads result
// rows, lists validation sets and writes run and chunk rows. Neither has a queue role: no function
// uses a storage queue or blob trigger (the only host features that need one).
resource scoringBlobOwner 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(storage.id, scoringPrincipalId, builtInRoles.storageBlobDataOwner)
  scope: storage
  properties: {
    principalId: scoringPrincipalId
    principalType: 'ServicePrincipal'
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', builtInRoles.storageBlobDataOwner)
  }
}

resource scoringTableContributor 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(storage.id, scoringPrincipalId, builtInRoles.storageTableDataContributor)
  scope: storage
  properties: {
    principalId: scoringPrincipalId
    principalType: 'ServicePrincipal'
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', builtInRoles.storageTableDataContributor)
  }
}

resource apiBlobOwner 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(storage.id, apiPrincipalId, builtInRoles.storageBlobDataOwner)
  scope: storage
  properties: {
    principalId: apiPrincipalId
    principalType: 'ServicePrincipal'
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', builtInRoles.storageBlobDataOwner)
  }
}

resource apiTableContributor 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(storage.id, apiPrincipalId, builtInRoles.storageTableDataContributor)
  scope: storage
  properties: {
    principalId: apiPrincipalId
    principalType: 'ServicePrincipal'
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', builtInRoles.storageTableDataContributor)
  }
}

// Event Grid writes only undeliverable events, and only into its own container.
resource deadLetter 'Microsoft.Storage/storageAccounts/blobServices/containers@2025-01-01' existing = {
  parent: blobService
  name: deadLetterContainer
}

resource eventGridDeadLetterWriter 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(deadLetter.id, eventGridPrincipalId, builtInRoles.storageBlobDataContributor)
  scope: deadLetter
  properties: {
    principalId: eventGridPrincipalId
    principalType: 'ServicePrincipal'
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', builtInRoles.storageBlobDataContributor)
  }
  dependsOn: [
    blobContainers
  ]
}

// The operator uploads images, validation sets and models, and reads the result tables.
resource operatorBlobContributor 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (!empty(operatorPrincipalId)) {
  name: guid(storage.id, operatorPrincipalId, builtInRoles.storageBlobDataContributor)
  scope: storage
  properties: {
    principalId: operatorPrincipalId
    principalType: operatorPrincipalType
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', builtInRoles.storageBlobDataContributor)
  }
}

resource operatorTableReader 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (!empty(operatorPrincipalId)) {
  name: guid(storage.id, operatorPrincipalId, builtInRoles.storageTableDataReader)
  scope: storage
  properties: {
    principalId: operatorPrincipalId
    principalType: operatorPrincipalType
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', builtInRoles.storageTableDataReader)
  }
}

output id string = storage.id
output name string = storage.name
output blobEndpoint string = storage.properties.primaryEndpoints.blob
output queueEndpoint string = storage.properties.primaryEndpoints.queue
output tableEndpoint string = storage.properties.primaryEndpoints.table
