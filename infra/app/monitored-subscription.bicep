// Everything aks-triage needs inside one monitored subscription: Reader for the app identity (the
// checks only issue GETs: clusters, agent pools, networks, DNS, quotas, features, policy, Activity
// Log), a resource group for the Event Grid system topic, and the topic itself.
targetScope = 'subscription'

param resourceGroupName string
param location string
param tags object
param principalId string
param topicName string
param actionGroupId string
param alertNamePrefix string
param workspaceId string

var roles = loadJsonContent('roles.json')

resource reader 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(subscription().id, principalId, roles.Reader)
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.Reader)
    principalId: principalId
    principalType: 'ServicePrincipal'
  }
}

resource rg 'Microsoft.Resources/resourceGroups@2024-03-01' = {
  name: resourceGroupName
  location: location
  tags: tags
}

module topic 'eventgrid-topic.bicep' = {
  name: 'aks-triage-topic'
  scope: rg
  params: {
    name: topicName
    tags: tags
    actionGroupId: actionGroupId
    alertNamePrefix: alertNamePrefix
    workspaceId: workspaceId
  }
}

output resourceGroupName string = rg.name
output topicName string = topic.outputs.name
output topicPrincipalId string = topic.outputs.principalId
