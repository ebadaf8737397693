// Optional Event Grid custom topic for findings (CloudEvents 1.0), and the app identity's
// EventGrid Data Sender role on that topic only. Wire from main.bicep with `if (createFindingsTopic)`;
// the app setting AKS_TRIAGE_FINDINGS_TOPIC_ENDPOINT takes the `endpoint` output.

@description('Custom topic name (3-50 characters: letters, digits, hyphens)')
@minLength(3)
@maxLength(50)
param name string

param location string = resourceGroup().location
param tags object = {}

@description('Principal id of the Function App user-assigned identity')
param appPrincipalId string

@description('Log Analytics workspace for publish/delivery failure logs (diagnostic settings).')
param workspaceId string

// Every role this deployment assigns comes from one list (tests/infra enforces it).
var roles = loadJsonContent('../app/roles.json')

resource topic 'Microsoft.EventGrid/topics@2022-06-15' = {
  name: name
  location: location
  tags: tags
  // Managed identity for the topic's own outbound calls (delivery to subscribers with Entra ID).
  identity: {
    type: 'SystemAssigned'
  }
  properties: {
    //checkov:skip=CKV_AZURE_193: Public network access stays on - the Function App has no VNet integration in this deployment, so it publishes over the public endpoint; local auth (keys) is disabled, so publishing needs Entra ID and the Data Sender role.
    inputSchema: 'CloudEventSchemaV1_0'
    publicNetworkAccess: 'Enabled'
    disableLocalAuth: true // Entra ID only: no topic access keys
  }
}

resource sender 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(topic.id, appPrincipalId, roles.EventGridDataSender)
  scope: topic
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.EventGridDataSender)
    principalId: appPrincipalId
    principalType: 'ServicePrincipal'
  }
}

// Resource logs and metrics into the findings workspace (tests/infra/test_diagnostics.py).
resource diagnostics 'Microsoft.Insights/diagnosticSettings@2021-05-01-preview' = {
  name: 'to-workspace'
  scope: topic
  properties: {
    workspaceId: workspaceId
    logs: [
      { category: 'PublishFailures', enabled: true }
      { category: 'DeliveryFailures', enabled: true }
    ]
    metrics: [
      { category: 'AllMetrics', enabled: true }
    ]
  }
}

output endpoint string = topic.properties.endpoint
output topicId string = topic.id
