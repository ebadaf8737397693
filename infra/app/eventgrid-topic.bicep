// Event Grid system topic for Azure subscription events (Microsoft.Resources.Subscriptions) in one
// monitored subscription, with a system-assigned identity (dead-lettering without shared keys)
// and metric alerts for events that were dead-lettered or dropped. The event subscription to the
// function is a separate module (eventgrid-subscription.bicep): it can only be created once the
// function code is deployed.
param name string
param tags object
param actionGroupId string
param alertNamePrefix string
@description('Log Analytics workspace for delivery-failure logs (diagnostic settings).')
param workspaceId string

resource topic 'Microsoft.EventGrid/systemTopics@2022-06-15' = {
  name: name
  location: 'global'
  tags: tags
  identity: {
    type: 'SystemAssigned'
  }
  properties: {
    source: subscription().id
    topicType: 'Microsoft.Resources.Subscriptions'
  }
}

// Resource logs and metrics into the findings workspace (tests/infra/test_diagnostics.py).
// DeliveryFailures: each failed delivery attempt to the function, with the error Event Grid got.
resource diagnostics 'Microsoft.Insights/diagnosticSettings@2021-05-01-preview' = {
  name: 'to-workspace'
  scope: topic
  properties: {
    workspaceId: workspaceId
    logs: [
      { category: 'DeliveryFailures', enabled: true }
    ]
    metrics: [
      { category: 'AllMetrics', enabled: true }
    ]
  }
}

// Dead-lettered = Event Grid gave up delivering (retries exhausted or 400/403/413); dropped = it
// could not even dead-letter. Either means a failure was never diagnosed.
resource deadLetteredAlert 'Microsoft.Insights/metricAlerts@2018-03-01' = {
  name: '${alertNamePrefix}deadlettered-${subscription().subscriptionId}'
  location: 'global'
  tags: tags
  properties: {
    description: 'aks-triage: events dead-lettered by system topic ${name} (see container eventgrid-deadletter)'
    severity: 1
    enabled: true
    scopes: [
      topic.id
    ]
    evaluationFrequency: 'PT5M'
    windowSize: 'PT1H'
    autoMitigate: true
    criteria: {
      'odata.type': 'Microsoft.Azure.Monitor.SingleResourceMultipleMetricCriteria'
      allOf: [
        {
          criterionType: 'StaticThresholdCriterion'
          name: 'DeadLettered'
          metricNamespace: 'Microsoft.EventGrid/systemTopics'
          metricName: 'DeadLetteredCount'
          operator: 'GreaterThan'
          threshold: 0
          timeAggregation: 'Total'
        }
      ]
    }
    actions: [
      {
        actionGroupId: actionGroupId
      }
    ]
  }
}

// Failed delivery attempts (function cold, 5xx, throttled). Event Grid retries them for 24 h, so
// this is a warning (severity 3) for the trend, not a page; lost events fire the two alerts above/below.
resource deliveryFailedAlert 'Microsoft.Insights/metricAlerts@2018-03-01' = {
  name: '${alertNamePrefix}deliveryfailed-${subscription().subscriptionId}'
  location: 'global'
  tags: tags
  properties: {
    description: 'aks-triage: delivery attempts from system topic ${name} to the function failed (Event Grid retries; see the dead-lettered alert for lost events)'
    severity: 3
    enabled: true
    scopes: [
      topic.id
    ]
    evaluationFrequency: 'PT15M'
    windowSize: 'PT1H'
    autoMitigate: true
    criteria: {
      'odata.type': 'Microsoft.Azure.Monitor.SingleResourceMultipleMetricCriteria'
      allOf: [
        {
          criterionType: 'StaticThresholdCriterion'
          name: 'DeliveryFailed'
          metricNamespace: 'Microsoft.EventGrid/systemTopics'
          metricName: 'DeliveryAttemptFailCount'
          operator: 'GreaterThan'
          threshold: 0
          timeAggregation: 'Total'
        }
      ]
    }
    actions: [
      {
        actionGroupId: actionGroupId
      }
    ]
  }
}

resource droppedAlert 'Microsoft.Insights/metricAlerts@2018-03-01' = {
  name: '${alertNamePrefix}dropped-${subscription().subscriptionId}'
  location: 'global'
  tags: tags
  properties: {
    description: 'aks-triage: events dropped by system topic ${name} (not delivered and not dead-lettered)'
    severity: 1
    enabled: true
    scopes: [
      topic.id
    ]
    evaluationFrequency: 'PT5M'
    windowSize: 'PT1H'
    autoMitigate: true
    criteria: {
      'odata.type': 'Microsoft.Azure.Monitor.SingleResourceMultipleMetricCriteria'
      allOf: [
        {
          criterionType: 'StaticThresholdCriterion'
          name: 'Dropped'
          metricNamespace: 'Microsoft.EventGrid/systemTopics'
          metricName: 'DroppedEventCount'
          operator: 'GreaterThan'
          threshold: 0
          timeAggregation: 'Total'
        }
      ]
    }
    actions: [
      {
        actionGroupId: actionGroupId
      }
    ]
  }
}

output id string = topic.id
output name string = topic.name
output principalId string = topic.identity.principalId
