// Role assignments of the app identity inside the app's resource group. Data-plane roles only,
// each on the narrowest scope that works. Cross-scope grants live next to their scope:
// monitored-subscription.bicep (Reader), workspace-reader.bicep (query the workspace + Reader on one table),
// deadletter-access.bicep (Event Grid topics -> dead-letter container).
param principalId string
param storageAccountName string
param workQueueName string
param poisonQueueName string
param stateTableName string
param dataCollectionRuleName string
param applicationInsightsName string
param keyVaultName string
param teamsSecretName string
param teamsSecretCreated bool

var roles = loadJsonContent('roles.json')

resource storage 'Microsoft.Storage/storageAccounts@2023-05-01' existing = {
  name: storageAccountName
}

resource queueService 'Microsoft.Storage/storageAccounts/queueServices@2023-05-01' existing = {
  parent: storage
  name: 'default'
}

resource workQueue 'Microsoft.Storage/storageAccounts/queueServices/queues@2023-05-01' existing = {
  parent: queueService
  name: workQueueName
}

resource poisonQueue 'Microsoft.Storage/storageAccounts/queueServices/queues@2023-05-01' existing = {
  parent: queueService
  name: poisonQueueName
}

resource tableService 'Microsoft.Storage/storageAccounts/tableServices@2023-05-01' existing = {
  parent: storage
  name: 'default'
}

resource stateTable 'Microsoft.Storage/storageAccounts/tableServices/tables@2023-05-01' existing = {
  parent: tableService
  name: stateTableName
}

resource dataCollectionRule 'Microsoft.Insights/dataCollectionRules@2023-03-11' existing = {
  name: dataCollectionRuleName
}

resource applicationInsights 'Microsoft.Insights/components@2020-02-02' existing = {
  name: applicationInsightsName
}

resource vault 'Microsoft.KeyVault/vaults@2023-07-01' existing = {
  name: keyVaultName
}

resource teamsSecret 'Microsoft.KeyVault/vaults/secrets@2023-07-01' existing = {
  parent: vault
  name: teamsSecretName
}

// Functions host storage (AzureWebJobsStorage: leases, timers, Flex deployment package). The
// Functions docs require Blob Data Owner for identity-based host storage.
resource blobOwner 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(storage.id, principalId, roles.StorageBlobDataOwner)
  scope: storage
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.StorageBlobDataOwner)
    principalId: principalId
    principalType: 'ServicePrincipal'
  }
}

// Work queue trigger + enqueue with delay, and the app's own move of a poisoned message: Queue Data
// Contributor on those two queues only (a role assignment scoped to one queue), not the account.
resource workQueueContributor 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(workQueue.id, principalId, roles.StorageQueueDataContributor)
  scope: workQueue
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.StorageQueueDataContributor)
    principalId: principalId
    principalType: 'ServicePrincipal'
  }
}

resource poisonQueueContributor 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(poisonQueue.id, principalId, roles.StorageQueueDataContributor)
  scope: poisonQueue
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.StorageQueueDataContributor)
    principalId: principalId
    principalType: 'ServicePrincipal'
  }
}

// Alert state / dedup table: Table Data Contributor on that table only.
resource tableContributor 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(stateTable.id, principalId, roles.StorageTableDataContributor)
  scope: stateTable
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.StorageTableDataContributor)
    principalId: principalId
    principalType: 'ServicePrincipal'
  }
}

// Logs Ingestion API: write findings through this DCR only.
resource dcrPublisher 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(dataCollectionRule.id, principalId, roles.MonitoringMetricsPublisher)
  scope: dataCollectionRule
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.MonitoringMetricsPublisher)
    principalId: principalId
    principalType: 'ServicePrincipal'
  }
}

// Application Insights with local auth disabled: telemetry is sent with Entra ID.
resource telemetryPublisher 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(applicationInsights.id, principalId, roles.MonitoringMetricsPublisher)
  scope: applicationInsights
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.MonitoringMetricsPublisher)
    principalId: principalId
    principalType: 'ServicePrincipal'
  }
}

// The one secret, not the whole vault.
resource secretUser 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (teamsSecretCreated) {
  name: guid(vault.id, teamsSecretName, principalId, roles.KeyVaultSecretsUser)
  scope: teamsSecret
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.KeyVaultSecretsUser)
    principalId: principalId
    principalType: 'ServicePrincipal'
  }
}
