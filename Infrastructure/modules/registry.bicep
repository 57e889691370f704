// Container registry for the function app image. No admin user: the app pulls with its managed
// identity (AcrPull) and azd pushes with the deploying user's Entra token.

param location string
param tags object
param name string

@description('Basic is enough to pull; Premium adds artifact streaming (enabled per repository with `az acr artifact-streaming`), which shortens cold starts of the large CUDA image.')
@allowed([
  'Basic'
  'Standard'
  'Premium'
])
param sku string = 'Basic'

@description('Principal ids of the app identities (each gets AcrPull on this registry only).')
param pullPrincipalIds string[]

import { builtInRoles } from 'roles.bicep'

resource registry 'Microsoft.ContainerRegistry/registries@2025-04-01' = {
  name: name
  location: location
  tags: tags
  sku: {
    name: sku
  }
  properties: {
    adminUserEnabled: false
    publicNetworkAccess: 'Enabled'
  }
}

resource appPull 'Microsoft.Authorization/roleAssignments@2022-04-01' = [
  for principalId in pullPrincipalIds: {
    name: guid(registry.id, principalId, builtInRoles.acrPull)
    scope: registry
    properties: {
      principalId: principalId
      principalType: 'ServicePrincipal'
      roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', builtInRoles.acrPull)
    }
  }
]

output name string = registry.name
output loginServer string = registry.properties.loginServer
