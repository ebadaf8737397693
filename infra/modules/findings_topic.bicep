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

// EventGrid Data Sender (built-in role)
var dataSenderRoleId = 'd5a91429-5739-47e2-a06b-3470a27159e7'

resource topic 'Microsoft.EventGrid/topics@2022-06-15' = {
  name: name
  location: location
  tags: tags
  properties: {
    inputSchema: 'CloudEventSchemaV1_0'
    publicNetworkAccess: 'Enabled'
    disableLocalAuth: true // Entra ID only: no topic access keys
  }
}

resource sender 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(topic.id, appPrincipalId, dataSenderRoleId)
  scope: topic
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', dataSenderRoleId)
    principalId: appPrincipalId
    principalType: 'ServicePrincipal'
  }
}

output endpoint string = topic.properties.endpoint
output topicId string = topic.id
