// User-assigned managed identities. Three, so each holds only its own roles: the scoring (GPU)
// app's, the API (CPU) app's, and the one Event Grid delivers (and dead-letters) events with.

param location string
param tags object
param scoringIdentityName string
param apiIdentityName string
param eventGridIdentityName string

resource scoringIdentity 'Microsoft.ManagedIdentity/userAssignedIdentities@2024-11-30' = {
  name: scoringIdentityName
  location: location
  tags: tags
}

resource apiIdentity 'Microsoft.ManagedIdentity/userAssignedIdentities@2024-11-30' = {
  name: apiIdentityName
  location: location
  tags: tags
}

resource eventGridIdentity 'Microsoft.ManagedIdentity/userAssignedIdentities@2024-11-30' = {
  name: eventGridIdentityName
  location: location
  tags: tags
}

output scoringIdentityId string = scoringIdentity.id
output scoringPrincipalId string = scoringIdentity.properties.principalId
output scoringClientId string = scoringIdentity.properties.clientId
output apiIdentityId string = apiIdentity.id
output apiPrincipalId string = apiIdentity.properties.principalId
output apiClientId string = apiIdentity.properties.clientId
output eventGridIdentityId string = eventGridIdentity.id
output eventGridPrincipalId string = eventGridIdentity.properties.principalId
