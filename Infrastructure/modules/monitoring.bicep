// Log Analytics workspace and a workspace-based Application Insights component that accepts only
// Entra-authenticated telemetry (local auth off), so the ingestion key is no credential.

param location string
param tags object
param logAnalyticsName string
param applicationInsightsName string

@description('Principal ids of the app identities (each gets Monitoring Metrics Publisher on the component only).')
param publisherPrincipalIds string[]

import { builtInRoles } from 'roles.bicep'

resource logAnalytics 'Microsoft.OperationalInsights/workspaces@2025-02-01' = {
  name: logAnalyticsName
  location: location
  tags: tags
  properties: {
    sku: {
      name: 'PerGB2018'
    }
    retentionInDays: 30
    // Nothing here uses the workspace keys (the environment logs through a diagnostic setting).
    features: {
      disableLocalAuth: true
    }
  }
}

resource applicationInsights 'Microsoft.Insights/components@2020-02-02' = {
  name: applicationInsightsName
  location: location
  tags: tags
  kind: 'web'
  properties: {
    Application_Type: 'web'
    WorkspaceResourceId: logAnalytics.id
    DisableLocalAuth: true
    IngestionMode: 'LogAnalytics'
  }
}

resource publisherRole 'Microsoft.Authorization/roleAssignments@2022-04-01' = [
  for principalId in publisherPrincipalIds: {
    name: guid(applicationInsights.id, principalId, builtInRoles.monitoringMetricsPublisher)
    scope: applicationInsights
    properties: {
      principalId: principalId
      principalType: 'ServicePrincipal'
      roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', builtInRoles.monitoringMetricsPublisher)
    }
  }
]

output logAnalyticsWorkspaceId string = logAnalytics.id
output applicationInsightsName string = applicationInsights.name
// The connection string names the ingestion endpoint and the component (instrumentation key);
// with DisableLocalAuth it grants nothing: every telemetry call needs an Entra token.
output applicationInsightsConnectionString string = applicationInsights.properties.ConnectionString
