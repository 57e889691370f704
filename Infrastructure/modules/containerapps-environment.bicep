// Container Apps environment with workload profiles: the default Consumption profile plus, unless
// gpuProfile is 'None', one serverless GPU profile. Serverless GPUs bill per second while a
// replica runs and scale to zero, which suits bursty batch scoring.

param location string
param tags object
param name string

@allowed([
  'T4'
  'A100'
  'None'
])
param gpuProfile string

@description('Log Analytics workspace that receives the environment logs through a diagnostic setting.')
param logAnalyticsWorkspaceId string

var gpuWorkloadProfileTypes = {
  T4: 'Consumption-GPU-NC8as-T4'
  A100: 'Consumption-GPU-NC24-A100'
}

var gpuWorkloadProfileName = 'gpu'

var consumptionProfile = [
  {
    name: 'Consumption'
    workloadProfileType: 'Consumption'
  }
]

var gpuProfiles = gpuProfile == 'None'
  ? []
  : [
      {
        name: gpuWorkloadProfileName
        workloadProfileType: gpuWorkloadProfileTypes[gpuProfile]
      }
    ]

resource environment 'Microsoft.App/managedEnvironments@2025-07-01' = {
  name: name
  location: location
  tags: tags
  properties: {
    // 'azure-monitor' + a diagnostic setting instead of 'log-analytics', which would need the
    // workspace's shared key in the template.
    appLogsConfiguration: {
      destination: 'azure-monitor'
    }
    workloadProfiles: concat(consumptionProfile, gpuProfiles)
    zoneRedundant: false
  }
}

resource logs 'Microsoft.Insights/diagnosticSettings@2021-05-01-preview' = {
  name: 'logs-to-workspace'
  scope: environment
  properties: {
    workspaceId: logAnalyticsWorkspaceId
    // Resource-specific tables (ContainerAppSystemLogs, ContainerAppConsoleLogs), which the
    // scaler-errors alert rule queries, rather than AzureDiagnostics.
    logAnalyticsDestinationType: 'Dedicated'
    logs: [
      {
        category: 'ContainerAppConsoleLogs'
        enabled: true
      }
      {
        category: 'ContainerAppSystemLogs'
        enabled: true
      }
    ]
  }
}

output id string = environment.id
output name string = environment.name
output defaultDomain string = environment.properties.defaultDomain
@description('Workload profile the scoring app runs on: the GPU profile, or Consumption without one.')
output gpuWorkloadProfileName string = gpuProfile == 'None' ? 'Consumption' : gpuWorkloadProfileName

@description('Workload profile the API app runs on.')
output consumptionWorkloadProfileName string = consumptionProfile[0].name
