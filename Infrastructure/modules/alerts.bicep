// Alert rules and the action group they notify. Each rule watches one way work stops or is lost
// silently: a dead-lettered message, an event Event Grid could not deliver, a scaler that cannot
// read its queue (no replica ever starts), a validation run marked Failed, a health check that
// answers Unhealthy (model or CUDA not loadable, storage unreachable).

param tags object
param name string

@description('E-mail address notified; empty creates the group without a receiver (add one in the portal).')
param alertEmail string

param serviceBusNamespaceId string

@description('Queues whose dead-letter count is watched (one rule each).')
param queueNames string[]

param eventGridSystemTopicId string

@description('Log Analytics workspace holding the container app logs (ContainerAppSystemLogs) and the workspace-based Application Insights traces (AppTraces).')
param logAnalyticsWorkspaceId string

param location string

var receivers = empty(alertEmail)
  ? []
  : [
      {
        name: 'operator'
        emailAddress: alertEmail
        useCommonAlertSchema: true
      }
    ]

resource actionGroup 'Microsoft.Insights/actionGroups@2023-01-01' = {
  name: name
  location: 'global'
  tags: tags
  properties: {
    groupShortName: 'convnext'
    enabled: true
    emailReceivers: receivers
  }
}

resource deadLetters 'Microsoft.Insights/metricAlerts@2018-03-01' = [
  for queue in queueNames: {
    name: 'dead-letters-${queue}'
    location: 'global'
    tags: tags
    properties: {
      description: 'Messages in the dead-letter queue of ${queue}: list them with `convnext-batch deadletters list ${queue}`, replay with `deadletters replay ${queue}`.'
      severity: 2
      enabled: true
      scopes: [
        serviceBusNamespaceId
      ]
      evaluationFrequency: 'PT5M'
      windowSize: 'PT5M'
      criteria: {
        'odata.type': 'Microsoft.Azure.Monitor.SingleResourceMultipleMetricCriteria'
        allOf: [
          {
            criterionType: 'StaticThresholdCriterion'
            name: 'dead-lettered'
            metricName: 'DeadletteredMessages'
            metricNamespace: 'Microsoft.ServiceBus/namespaces'
            dimensions: [
              {
                name: 'EntityName'
                operator: 'Include'
                values: [
                  queue
                ]
              }
            ]
            operator: 'GreaterThan'
            threshold: 0
            timeAggregation: 'Maximum'
          }
        ]
      }
      actions: [
        {
          actionGroupId: actionGroup.id
        }
      ]
    }
  }
]

// Event Grid: events written to the dead-letter container, dropped, or failing delivery.
var eventGridMetrics = [
  'DeadLetteredCount'
  'DroppedEventCount'
  'DeliveryAttemptFailCount'
]

resource eventGridDelivery 'Microsoft.Insights/metricAlerts@2018-03-01' = [
  for metric in eventGridMetrics: {
    name: 'eventgrid-${toLower(metric)}'
    location: 'global'
    tags: tags
    properties: {
      description: 'Event Grid ${metric} > 0: BlobCreated events are not reaching score-requests (see the eventgrid-deadletter container).'
      severity: 2
      enabled: true
      scopes: [
        eventGridSystemTopicId
      ]
      evaluationFrequency: 'PT5M'
      windowSize: 'PT15M'
      criteria: {
        'odata.type': 'Microsoft.Azure.Monitor.SingleResourceMultipleMetricCriteria'
        allOf: [
          {
            criterionType: 'StaticThresholdCriterion'
            name: toLower(metric)
            metricName: metric
            metricNamespace: 'Microsoft.EventGrid/systemTopics'
            operator: 'GreaterThan'
            threshold: 0
            timeAggregation: 'Total'
          }
        ]
      }
      actions: [
        {
          actionGroupId: actionGroup.id
        }
      ]
    }
  }
]

// Log alerts over the workspace. The handler logs the two app-level lines below (Service/): keep
// the texts in step with ValidationRunService and ServiceHealth.
var logAlerts = [
  {
    name: 'scaler-errors'
    description: 'A KEDA scaler failed (usually a missing Service Bus right): the scoring app cannot start from zero.'
    query: 'ContainerAppSystemLogs | where Reason has "KEDAScalerFailed" or (Log has "scaler" and Log has_any ("error", "unauthorized", "forbidden"))'
  }
  {
    name: 'validation-run-failed'
    description: 'A validation run was marked Failed.'
    query: 'AppTraces | where Message has "validation run" and Message has "failed:"'
  }
  {
    name: 'health-unhealthy'
    description: 'The health check answered Unhealthy, or a scoring invocation could not load the model (model or CUDA not loadable, storage unreachable).'
    query: 'AppTraces | where Message startswith "health Unhealthy" or Message startswith "model load failed"'
  }
]

resource logRules 'Microsoft.Insights/scheduledQueryRules@2023-12-01' = [
  for rule in logAlerts: {
    name: rule.name
    location: location
    tags: tags
    properties: {
      description: rule.description
      severity: 2
      enabled: true
      // A new workspace has no rows in these tables yet; validation would refuse the rule until it has.
      skipQueryValidation: true
      scopes: [
        logAnalyticsWorkspaceId
      ]
      evaluationFrequency: 'PT5M'
      windowSize: 'PT15M'
      criteria: {
        allOf: [
          {
            query: rule.query
            timeAggregation: 'Count'
            operator: 'GreaterThan'
            threshold: 0
            failingPeriods: {
              numberOfEvaluationPeriods: 1
              minFailingPeriodsToAlert: 1
            }
          }
        ]
      }
      actions: {
        actionGroups: [
          actionGroup.id
        ]
      }
    }
  }
]

output actionGroupId string = actionGroup.id
output ruleNames string[] = concat(
  map(queueNames, q => 'dead-letters-${q}'),
  map(eventGridMetrics, m => 'eventgrid-${toLower(m)}'),
  map(logAlerts, r => r.name)
)
