// aks-triage, management group mode: every subscription under a management group is monitored,
// including subscriptions created later. Deploy AFTER the app (`azd up`), with the app's outputs:
//   az deployment mg create -m <mg id> -l <region> -f infra/mg/main.bicep \
//     -p appPrincipalId=$AZURE_MANAGED_IDENTITY_PRINCIPAL_ID functionAppId=$AZURE_FUNCTION_APP_ID \
//        deadLetterStorageAccountId=$AZURE_STORAGE_ACCOUNT_ID location=$AZURE_LOCATION
// What it deploys (infra/README.md "Management group mode"):
// - Reader for the app identity at the management group (cluster, network, policy reads anywhere below);
// - a DeployIfNotExists policy (policy/aks-triage-events.json) and its assignment with a system-assigned
//   identity: in each subscription a resource group, the Event Grid system topic and the event
//   subscription to on_aks_event (same filters as infra/app/eventgrid-subscription.bicep);
// - the roles that identity needs, and no more: EventGrid Contributor, Monitoring Contributor (the
//   dead-lettered alert), a custom role that can create resource groups and deployments, Managed
//   Identity Operator on the one shared topic identity;
// - a remediation task for the subscriptions that exist today (new ones are deployed on creation).
targetScope = 'managementGroup'

@description('Principal id of the app\'s user-assigned identity (azd output of the app deployment).')
param appPrincipalId string

@description('Resource id of the aks-triage Function App (AZURE_FUNCTION_APP_ID).')
param functionAppId string

@description('Resource id of the app storage account holding the dead-letter container (AZURE_STORAGE_ACCOUNT_ID).')
param deadLetterStorageAccountId string

param deadLetterContainerName string = 'eventgrid-deadletter'

@description('Region for the policy assignment identity, the shared topic identity and each topic resource group.')
param location string

@description('Resource group created in each subscription for the system topic.')
param topicResourceGroupName string = 'rg-aks-triage-events'

@description('System topic name in each subscription (one subscription-events topic per subscription).')
param topicName string = 'evgst-aks-triage-subscription'

@description('Action group for the dead-lettered metric alert in each subscription; empty = no alert.')
param actionGroupId string = ''

@allowed(['DeployIfNotExists', 'AuditIfNotExists', 'Disabled'])
param effect string = 'DeployIfNotExists'

@description('Start a remediation task for the subscriptions that exist now.')
param createRemediation bool = true

var roles = loadJsonContent('../app/roles.json')
var policy = loadJsonContent('policy/aks-triage-events.json')
var storageSubscription = split(deadLetterStorageAccountId, '/')[2]
var storageResourceGroup = split(deadLetterStorageAccountId, '/')[4]
var storageAccountName = last(split(deadLetterStorageAccountId, '/'))
var tags = {
  application: 'aks-triage'
}

// The app reads clusters, networks and policy assignments anywhere below the management group.
resource appReader 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(managementGroup().id, appPrincipalId, roles.Reader)
  properties: {
    roleDefinitionId: tenantResourceId('Microsoft.Authorization/roleDefinitions', roles.Reader)
    principalId: appPrincipalId
    principalType: 'ServicePrincipal'
  }
}

module topicIdentity 'topic-identity.bicep' = {
  name: 'aks-triage-mg-topic-identity'
  scope: resourceGroup(storageSubscription, storageResourceGroup)
  params: {
    name: 'id-aks-triage-topics'
    location: location
    tags: tags
    storageAccountName: storageAccountName
    deadLetterContainerName: deadLetterContainerName
  }
}

// Create the per-subscription resource group and run the deployment; nothing else.
resource remediationRole 'Microsoft.Authorization/roleDefinitions@2022-04-01' = {
  name: guid(managementGroup().id, 'aks-triage-policy-remediation')
  properties: {
    roleName: 'aks-triage policy remediation ${managementGroup().name}'
    description: 'Create the aks-triage topic resource group and its deployment in each subscription.'
    type: 'CustomRole'
    assignableScopes: [
      managementGroup().id
    ]
    permissions: [
      {
        actions: [
          'Microsoft.Resources/subscriptions/resourceGroups/read'
          'Microsoft.Resources/subscriptions/resourceGroups/write'
          'Microsoft.Resources/deployments/*'
        ]
        notActions: []
        dataActions: []
        notDataActions: []
      }
    ]
  }
}

var remediationRoleIds = [
  '/providers/Microsoft.Authorization/roleDefinitions/${roles.EventGridContributor}'
  '/providers/Microsoft.Authorization/roleDefinitions/${roles.MonitoringContributor}'
  '/providers/Microsoft.Authorization/roleDefinitions/${roles.ManagedIdentityOperator}'
  '/providers/Microsoft.Authorization/roleDefinitions/${remediationRole.name}'
]

resource definition 'Microsoft.Authorization/policyDefinitions@2023-04-01' = {
  name: 'aks-triage-events'
  properties: {
    displayName: policy.displayName
    description: policy.description
    policyType: 'Custom'
    mode: policy.mode
    metadata: policy.metadata
    parameters: policy.parameters
    policyRule: union(policy.policyRule, {
      then: union(policy.policyRule.then, {
        details: union(policy.policyRule.then.details, {
          roleDefinitionIds: remediationRoleIds
        })
      })
    })
  }
}

resource assignment 'Microsoft.Authorization/policyAssignments@2024-04-01' = {
  name: 'aks-triage-events'
  location: location
  identity: {
    type: 'SystemAssigned'
  }
  properties: {
    displayName: policy.displayName
    policyDefinitionId: definition.id
    enforcementMode: 'Default'
    parameters: {
      effect: { value: effect }
      topicResourceGroupName: { value: topicResourceGroupName }
      topicName: { value: topicName }
      location: { value: location }
      functionAppId: { value: functionAppId }
      deadLetterStorageAccountId: { value: deadLetterStorageAccountId }
      deadLetterContainerName: { value: deadLetterContainerName }
      topicIdentityId: { value: topicIdentity.outputs.id }
      actionGroupId: { value: actionGroupId }
    }
  }
}

resource remediatorEventGrid 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(managementGroup().id, 'aks-triage-events', roles.EventGridContributor)
  properties: {
    roleDefinitionId: tenantResourceId('Microsoft.Authorization/roleDefinitions', roles.EventGridContributor)
    principalId: assignment.identity.principalId
    principalType: 'ServicePrincipal'
  }
}

resource remediatorMonitoring 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(managementGroup().id, 'aks-triage-events', roles.MonitoringContributor)
  properties: {
    roleDefinitionId: tenantResourceId('Microsoft.Authorization/roleDefinitions', roles.MonitoringContributor)
    principalId: assignment.identity.principalId
    principalType: 'ServicePrincipal'
  }
}

resource remediatorGroups 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(managementGroup().id, 'aks-triage-events', 'remediation-role')
  properties: {
    roleDefinitionId: remediationRole.id
    principalId: assignment.identity.principalId
    principalType: 'ServicePrincipal'
  }
}

module identityOperator 'identity-operator.bicep' = {
  name: 'aks-triage-mg-identity-operator'
  scope: resourceGroup(storageSubscription, storageResourceGroup)
  params: {
    identityName: topicIdentity.outputs.name
    principalId: assignment.identity.principalId
  }
}

// Existing subscriptions; new ones are evaluated (and deployed) when they are created or moved in.
resource remediation 'Microsoft.PolicyInsights/remediations@2021-10-01' = if (createRemediation) {
  name: 'aks-triage-events-existing'
  dependsOn: [
    remediatorEventGrid
    remediatorMonitoring
    remediatorGroups
    identityOperator
  ]
  properties: {
    policyAssignmentId: assignment.id
    resourceDiscoveryMode: 'ReEvaluateCompliance'
  }
}

output policyAssignmentId string = assignment.id
output policyDefinitionId string = definition.id
output topicIdentityId string = topicIdentity.outputs.id
