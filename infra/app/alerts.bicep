// Azure Monitor alerting on the findings table plus a self-health rule, all routed to one action
// group (email + optional webhook). The KQL lives in infra/queries/*.kql so the tests type-check
// exactly what deploys.
param location string
param tags object
param actionGroupName string
param actionGroupShortName string
@description('Email addresses for the action group (may be empty).')
param alertEmails array
@secure()
@description('Optional webhook (e.g. PagerDuty / Opsgenie / Logic App) for the action group.')
param alertWebhookUrl string = ''
param workspaceId string
param applicationInsightsId string
param rulePrefix string
@description('Lookback for the latest row per group; longer than the 24 h escalation period so an open group stays in range until its resolved row.')
param findingsWindow string = 'P2D'

// Finding.severity -> Azure Monitor severity (0 = Critical ... 4 = Verbose). `info` findings are
// not alerted (workbook only).
var severityMap = [
  { finding: 'critical', sev: 0 }
  { finding: 'error', sev: 1 }
  { finding: 'warning', sev: 2 }
]
var findingsQuery = loadTextContent('../queries/findings-alert.kql')
var findingsSeverityLine = 'let targetSeverity = "error";'
var healthQuery = loadTextContent('../queries/monitor-health.kql')
var healthResourceLine = 'let appInsightsId = "";'

var emailReceivers = [for (email, i) in alertEmails: {
  name: 'email-${i}'
  emailAddress: email
  useCommonAlertSchema: true
}]
var webhookReceivers = empty(alertWebhookUrl) ? [] : [
  {
    name: 'webhook'
    serviceUri: alertWebhookUrl
    useCommonAlertSchema: true
  }
]

resource actionGroup 'Microsoft.Insights/actionGroups@2023-01-01' = {
  name: actionGroupName
  location: 'global'
  tags: tags
  properties: {
    groupShortName: actionGroupShortName
    enabled: true
    emailReceivers: emailReceivers
    webhookReceivers: webhookReceivers
  }
}

resource findingsRules 'Microsoft.Insights/scheduledQueryRules@2023-12-01' = [for s in severityMap: {
  name: '${rulePrefix}findings-${s.finding}'
  location: location
  tags: tags
  kind: 'LogAlert'
  properties: {
    displayName: 'aks-triage: ${s.finding} findings'
    description: 'Open aks-triage findings with severity ${s.finding}, one alert per cluster and error code. Resolves when the app writes the resolved row of the group.'
    severity: s.sev
    enabled: true
    scopes: [
      workspaceId
    ]
    evaluationFrequency: 'PT5M'
    windowSize: findingsWindow
    autoMitigate: true
    criteria: {
      allOf: [
        {
          query: replace(findingsQuery, findingsSeverityLine, 'let targetSeverity = "${s.finding}";')
          timeAggregation: 'Count'
          dimensions: [
            {
              name: 'ClusterId'
              operator: 'Include'
              values: [ '*' ]
            }
            {
              name: 'ErrorCode'
              operator: 'Include'
              values: [ '*' ]
            }
          ]
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
      customProperties: {
        source: 'aks-triage'
        findingSeverity: s.finding
      }
    }
  }
}]

resource healthRule 'Microsoft.Insights/scheduledQueryRules@2023-12-01' = {
  name: '${rulePrefix}monitor-health'
  location: location
  tags: tags
  kind: 'LogAlert'
  properties: {
    displayName: 'aks-triage: monitor unhealthy'
    description: 'aks-triage dead-lettered a work item (trace AksTriageDeadLettered): a failure was not diagnosed. Transient failures that succeed on retry do not fire. Event Grid dead-letters are alerted per system topic.'
    severity: 1
    enabled: true
    scopes: [
      workspaceId
    ]
    evaluationFrequency: 'PT15M'
    windowSize: 'PT1H'
    autoMitigate: true
    criteria: {
      allOf: [
        {
          query: replace(healthQuery, healthResourceLine, 'let appInsightsId = "${applicationInsightsId}";')
          timeAggregation: 'Total'
          metricMeasureColumn: 'Count'
          dimensions: [
            {
              name: 'Signal'
              operator: 'Include'
              values: [ '*' ]
            }
          ]
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
      customProperties: {
        source: 'aks-triage'
      }
    }
  }
}

output actionGroupId string = actionGroup.id
output findingsRuleNames array = [for (s, i) in severityMap: findingsRules[i].name]
output healthRuleName string = healthRule.name
