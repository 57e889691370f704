// Storage account for the drop zone, labelled validation sets, ONNX models, the result tables and
// the Functions host's own state. Entra ID only: shared keys and SAS are disabled.

param location string
param tags object
param name string

@description('Blob containers to create.')
param containers string[]

@description('Containers of the Functions hosts (keys, timer state, locks): pre-created, Blob Data Owner for both apps.')
param hostContainers string[]

@description('Data containers both apps only read (images, validation sets, models).')
param readContainers string[]

@description('Data containers both apps write (validation run plans and frozen totals).')
param writeContainers string[]

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
    // An overwritten or deleted image, validation set or model keeps its old version, and a deleted
    // container can be restored for 7 days. Tables have neither: README.md, "Recovering results".
    isVersioningEnabled: true
    deleteRetentionPolicy: {
      enabled: true
      days: 7
    }
    containerDeleteRetentionPolicy: {
      enabled: true
      days: 7
    }
  }
}

resource blobContainers 'Microsoft.Storage/storageAccounts/blobServices/containers@2025-01-01' = [
  for container in concat(containers, hostContainers, [deadLetterContainer]): {
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

// Blob roles per container, never on the account. Each app's Functions host keeps its keys, timer
// state and locks as blobs and blob leases in the two host containers (pre-created above, so no
// account-wide create right is needed): Blob Data Owner there only. The data containers are read
// (images, validation sets, models) or written (run plans and frozen totals in validation-runs):
// neither app can overwrite a model or delete an image.
var blobGrants = concat(
  map(hostContainers, c => { principal: 'scoring', principalId: scoringPrincipalId, container: c, role: builtInRoles.storageBlobDataOwner }),
  map(hostContainers, c => { principal: 'api', principalId: apiPrincipalId, container: c, role: builtInRoles.storageBlobDataOwner }),
  map(readContainers, c => { principal: 'scoring', principalId: scoringPrincipalId, container: c, role: builtInRoles.storageBlobDataReader }),
  map(readContainers, c => { principal: 'api', principalId: apiPrincipalId, container: c, role: builtInRoles.storageBlobDataReader }),
  map(writeContainers, c => { principal: 'scoring', principalId: scoringPrincipalId, container: c, role: builtInRoles.storageBlobDataContributor }),
  map(writeContainers, c => { principal: 'api', principalId: apiPrincipalId, container: c, role: builtInRoles.storageBlobDataContributor })
)

resource grantedContainers 'Microsoft.Storage/storageAccounts/blobServices/containers@2025-01-01' existing = [
  for grant in blobGrants: {
    parent: blobService
    name: grant.container
  }
]

resource appBlobRoles 'Microsoft.Authorization/roleAssignments@2022-04-01' = [
  for (grant, i) in blobGrants: {
    name: guid(grantedContainers[i].id, grant.principalId, grant.role)
    scope: grantedContainers[i]
    properties: {
      principalId: grant.principalId
      principalType: 'ServicePrincipal'
      roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', grant.role)
    }
    dependsOn: [
      blobContainers
    ]
  }
]

// Tables stay at account scope: the host creates its dated diagnostic-event tables
// (AzureFunctionsDiagnosticEvents<yyyyMM>) next to ours, which a table-scoped grant cannot allow.
// The scoring app writes prediction rows and run totals; the API app writes run and chunk rows.
resource scoringTableContributor 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(storage.id, scoringPrincipalId, builtInRoles.storageTableDataContributor)
  scope: storage
  properties: {
    principalId: scoringPrincipalId
    principalType: 'ServicePrincipal'
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', builtInRoles.storageTableDataContributor)
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
