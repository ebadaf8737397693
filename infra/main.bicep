// aks-triage: diagnose failed AKS operations from Event Grid events.
// `azd up` deploys this template twice: first without the Event Grid subscriptions (the function
// code does not exist yet), then - from the postdeploy hook, after the code is deployed - with
// deployEventSubscriptions=true. See infra/README.md.
targetScope = 'subscription'

@minLength(1)
@maxLength(64)
@description('azd environment name; used for the resource token and the azd-env-name tag.')
param environmentName string

@minLength(1)
@description('Region for the app and its monitoring resources (must offer Flex Consumption).')
@allowed([
  'australiaeast'
  'australiasoutheast'
  'brazilsouth'
  'canadacentral'
  'centralindia'
  'centralus'
  'eastasia'
  'eastus'
  'eastus2'
  'francecentral'
  'germanywestcentral'
  'italynorth'
  'japaneast'
  'koreacentral'
  'northcentralus'
  'northeurope'
  'norwayeast'
  'southafricanorth'
  'southcentralus'
  'southeastasia'
  'southindia'
  'spaincentral'
  'swedencentral'
  'uaenorth'
  'uksouth'
  'ukwest'
  'westcentralus'
  'westeurope'
  'westus'
  'westus2'
  'westus3'
])
@metadata({
  azd: {
    type: 'location'
  }
})
param location string

@description('Comma-separated ids of the subscriptions to monitor. Empty = the deployment subscription.')
param monitoredSubscriptionIds string = ''

@description('Resource id of an existing Log Analytics workspace (same region as `location`). Empty = create one.')
param existingWorkspaceResourceId string = ''

@description('Where the app looks up the error of a failed operation (Settings.activity_log_source).')
@allowed(['rest', 'workspace', 'both'])
param activityLogSource string = 'rest'

@description('Resource id of the workspace that receives the subscriptions\' Activity Log (needed for activityLogSource workspace/both).')
param activityWorkspaceResourceId string = ''

@secure()
@description('Teams Workflows webhook URL, stored in Key Vault. Empty = no Teams cards.')
param teamsWebhookUrl string = ''

@description('Comma-separated email addresses for Azure Monitor alerts.')
param alertEmails string = ''

@secure()
@description('Optional webhook for the action group (PagerDuty, Opsgenie, Logic App, ...).')
param alertWebhookUrl string = ''

@description('Create the Event Grid subscriptions to the function. Set by the postdeploy hook once the code is deployed.')
param deployEventSubscriptions bool = false

@description('Comma-separated AKS cluster ids that get a per-cluster system topic for NodePoolRollingFailed (optional).')
param aksClusterIds string = ''

@description('Create an Event Grid custom topic that receives findings as CloudEvents (the app identity gets EventGrid Data Sender on it).')
param deployFindingsTopic bool = false

@minValue(30)
@maxValue(730)
param logRetentionDays int = 30

@minValue(30)
@maxValue(4383)
@description('Total retention (interactive + archive) of the findings table.')
param findingsTotalRetentionDays int = 365

@minValue(40)
@maxValue(1000)
param maximumInstanceCount int = 40

@minValue(0)
param alwaysReadyInstances int = 0

// Optional name overrides (azd template convention).
param resourceGroupName string = ''
param functionAppName string = ''
param storageAccountName string = ''
param keyVaultName string = ''

var abbrs = loadJsonContent('abbreviations.json')
var resourceToken = toLower(uniqueString(subscription().id, environmentName, location))
var tags = {
  'azd-env-name': environmentName
  application: 'aks-triage'
}
var serviceName = 'triage'
var appName = !empty(functionAppName) ? functionAppName : '${abbrs.webSitesFunctions}aks-triage-${resourceToken}'
var deploymentContainerName = 'app-package-${take(resourceToken, 10)}'
// List parameters (azd env strings): ',' or ';' separated, entries trimmed, duplicates dropped (union
// of arrays keeps each value once), the empty entry dropped (after union there is at most one). Ids
// compare case-insensitively, so they are lower-cased. No lambdas (filter/map): checkov's Bicep parser
// does not read them. tests/infra/test_lists.py evaluates these expressions on sample inputs.
var subscriptionTrimmed = [for s in split(replace(monitoredSubscriptionIds, ';', ','), ','): toLower(trim(s))]
var subscriptionEntries = union(subscriptionTrimmed, [])
var requestedSubscriptions = contains(subscriptionEntries, '') ? concat(take(subscriptionEntries, indexOf(subscriptionEntries, '')), skip(subscriptionEntries, indexOf(subscriptionEntries, '') + 1)) : subscriptionEntries
var subscriptionIds = empty(requestedSubscriptions) ? [subscription().subscriptionId] : requestedSubscriptions
var clusterTrimmed = [for c in split(replace(aksClusterIds, ';', ','), ','): toLower(trim(c))]
var clusterEntries = union(clusterTrimmed, [])
var clusterIds = contains(clusterEntries, '') ? concat(take(clusterEntries, indexOf(clusterEntries, '')), skip(clusterEntries, indexOf(clusterEntries, '') + 1)) : clusterEntries
var emailTrimmed = [for e in split(replace(alertEmails, ';', ','), ','): trim(e)]
var emailEntries = union(emailTrimmed, [])
var emails = contains(emailEntries, '') ? concat(take(emailEntries, indexOf(emailEntries, '')), skip(emailEntries, indexOf(emailEntries, '') + 1)) : emailEntries
// Second pass only (deployEventSubscriptions): loop over an empty list in the first pass.
var eventSubscriptionTargets = deployEventSubscriptions ? subscriptionIds : []
var aksTopicTargets = deployEventSubscriptions ? clusterIds : []
var useExistingWorkspace = !empty(existingWorkspaceResourceId)
var topicResourceGroupName = '${abbrs.resourcesResourceGroups}aks-triage-events-${environmentName}'
// ARM endpoint of this cloud, without the trailing slash (Settings.arm_endpoint).
var armEndpoint = endsWith(environment().resourceManager, '/') ? substring(environment().resourceManager, 0, length(environment().resourceManager) - 1) : environment().resourceManager

resource rg 'Microsoft.Resources/resourceGroups@2024-03-01' = {
  name: !empty(resourceGroupName) ? resourceGroupName : '${abbrs.resourcesResourceGroups}${environmentName}'
  location: location
  tags: tags
}

module identity 'app/identity.bicep' = {
  name: 'identity'
  scope: rg
  params: {
    name: '${abbrs.managedIdentityUserAssignedIdentities}aks-triage-${resourceToken}'
    location: location
    tags: tags
  }
}

module storage 'app/storage.bicep' = {
  name: 'storage'
  scope: rg
  params: {
    name: !empty(storageAccountName) ? storageAccountName : '${abbrs.storageStorageAccounts}${resourceToken}'
    location: location
    tags: tags
    deploymentContainerName: deploymentContainerName
    workspaceId: findingsTable.outputs.workspaceId
  }
}

module newWorkspace 'app/workspace.bicep' = if (!useExistingWorkspace) {
  name: 'workspace'
  scope: rg
  params: {
    name: '${abbrs.operationalInsightsWorkspaces}${resourceToken}'
    location: location
    tags: tags
    retentionInDays: logRetentionDays
  }
}

var workspaceId = useExistingWorkspace ? existingWorkspaceResourceId : newWorkspace.outputs.id
var workspaceName = last(split(workspaceId, '/'))
// ARM evaluates a conditional module's scope (and implicit dependsOn) before its condition, so every
// index into a value that may be '' sits in the non-empty branch of an `empty(x) ?` guard.
var workspaceSubscription = empty(existingWorkspaceResourceId) ? subscription().subscriptionId : split(existingWorkspaceResourceId, '/')[2]
var workspaceResourceGroup = empty(existingWorkspaceResourceId) ? rg.name : split(existingWorkspaceResourceId, '/')[4]

module findingsTable 'app/findings-table.bicep' = {
  name: 'findings-table'
  scope: resourceGroup(workspaceSubscription, workspaceResourceGroup)
  params: {
    workspaceName: workspaceName
    retentionInDays: logRetentionDays
    totalRetentionInDays: findingsTotalRetentionDays
  }
}

// A new workspace is created in `location`; an existing one decides where its DCE, DCR, Application
// Insights and log alerts live.
var monitoringLocation = useExistingWorkspace ? findingsTable.outputs.location : location

module monitoring 'app/monitoring.bicep' = {
  name: 'monitoring'
  scope: rg
  params: {
    location: monitoringLocation
    tags: tags
    workspaceId: findingsTable.outputs.workspaceId
    findingsTableName: findingsTable.outputs.tableName
    applicationInsightsName: '${abbrs.insightsComponents}${resourceToken}'
    dataCollectionEndpointName: '${abbrs.insightsDataCollectionEndpoints}${resourceToken}'
    dataCollectionRuleName: '${abbrs.insightsDataCollectionRules}aks-triage-${resourceToken}'
  }
}

module keyVault 'app/keyvault.bicep' = {
  name: 'keyvault'
  scope: rg
  params: {
    name: !empty(keyVaultName) ? keyVaultName : '${abbrs.keyVaultVaults}${resourceToken}'
    location: location
    tags: tags
    teamsWebhookUrl: teamsWebhookUrl
    workspaceId: findingsTable.outputs.workspaceId
  }
}

module findingsReader 'app/workspace-reader.bicep' = {
  name: 'findings-workspace-reader'
  scope: resourceGroup(workspaceSubscription, workspaceResourceGroup)
  params: {
    workspaceName: workspaceName
    tableName: findingsTable.outputs.tableName
    principalId: identity.outputs.principalId
    purpose: 'findings'
  }
}

module activityReader 'app/workspace-reader.bicep' = if (!empty(activityWorkspaceResourceId)) {
  name: 'activity-workspace-reader'
  scope: resourceGroup(empty(activityWorkspaceResourceId) ? subscription().subscriptionId : split(activityWorkspaceResourceId, '/')[2], empty(activityWorkspaceResourceId) ? rg.name : split(activityWorkspaceResourceId, '/')[4])
  params: {
    workspaceName: last(split(activityWorkspaceResourceId, '/'))
    tableName: 'AzureActivity'
    principalId: identity.outputs.principalId
    purpose: 'activity'
  }
}

module function 'app/function.bicep' = {
  name: 'function'
  scope: rg
  params: {
    name: appName
    location: location
    tags: tags
    planName: '${abbrs.webServerFarms}${resourceToken}'
    serviceName: serviceName
    identityId: identity.outputs.id
    identityClientId: identity.outputs.clientId
    storageBlobEndpoint: storage.outputs.blobEndpoint
    storageQueueEndpoint: storage.outputs.queueEndpoint
    storageTableEndpoint: storage.outputs.tableEndpoint
    deploymentContainerName: storage.outputs.deploymentContainerName
    applicationInsightsConnectionString: monitoring.outputs.applicationInsightsConnectionString
    maximumInstanceCount: maximumInstanceCount
    alwaysReadyInstances: alwaysReadyInstances
    armEndpoint: armEndpoint
    activityLogSource: activityLogSource
    activityWorkspaceId: empty(activityWorkspaceResourceId) ? '' : activityReader.outputs.customerId
    workQueueName: storage.outputs.workQueueName
    stateTableName: storage.outputs.stateTableName
    logsIngestionEndpoint: monitoring.outputs.logsIngestionEndpoint
    dcrImmutableId: monitoring.outputs.dataCollectionRuleImmutableId
    dcrStream: monitoring.outputs.stream
    findingsWorkspaceId: findingsReader.outputs.customerId
    teamsWebhookReference: keyVault.outputs.teamsWebhookReference
    workbookUrl: monitoring.outputs.workbookUrl
    findingsTopicEndpoint: deployFindingsTopic ? findingsTopic.outputs.endpoint : ''
    workspaceId: findingsTable.outputs.workspaceId
  }
}

module rbac 'app/rbac.bicep' = {
  name: 'rbac'
  scope: rg
  params: {
    principalId: identity.outputs.principalId
    storageAccountName: storage.outputs.name
    workQueueName: storage.outputs.workQueueName
    poisonQueueName: storage.outputs.poisonQueueName
    stateTableName: storage.outputs.stateTableName
    dataCollectionRuleName: monitoring.outputs.dataCollectionRuleName
    applicationInsightsName: monitoring.outputs.applicationInsightsName
    keyVaultName: keyVault.outputs.name
    teamsSecretName: keyVault.outputs.teamsSecretName
    teamsSecretCreated: keyVault.outputs.teamsSecretCreated
  }
}

module alerts 'app/alerts.bicep' = {
  name: 'alerts'
  scope: rg
  params: {
    location: monitoringLocation
    tags: tags
    actionGroupName: '${abbrs.insightsActionGroups}aks-triage-${resourceToken}'
    actionGroupShortName: 'akstriage'
    alertEmails: emails
    alertWebhookUrl: alertWebhookUrl
    workspaceId: findingsTable.outputs.workspaceId
    applicationInsightsId: monitoring.outputs.applicationInsightsId
    rulePrefix: '${abbrs.insightsScheduledQueryRules}aks-triage-'
  }
}

module findingsTopic 'modules/findings_topic.bicep' = if (deployFindingsTopic) {
  name: 'findings-topic'
  scope: rg
  params: {
    name: '${abbrs.eventGridDomainsTopics}aks-triage-findings-${resourceToken}'
    location: location
    tags: tags
    appPrincipalId: identity.outputs.principalId
    workspaceId: findingsTable.outputs.workspaceId
  }
}

// One system topic (+ Reader for the app) per monitored subscription.
module monitored 'app/monitored-subscription.bicep' = [for (sub, i) in subscriptionIds: {
  name: 'aks-triage-monitored-${i}-${resourceToken}'
  scope: subscription(sub)
  params: {
    resourceGroupName: topicResourceGroupName
    location: location
    tags: tags
    principalId: identity.outputs.principalId
    topicName: '${abbrs.eventGridSystemTopics}aks-triage-${take(uniqueString(sub, environmentName), 8)}'
    actionGroupId: alerts.outputs.actionGroupId
    alertNamePrefix: '${abbrs.insightsMetricAlerts}aks-triage-'
    workspaceId: findingsTable.outputs.workspaceId
  }
}]

module deadLetterAccess 'app/deadletter-access.bicep' = {
  name: 'deadletter-access'
  scope: rg
  params: {
    storageAccountName: storage.outputs.name
    containerName: storage.outputs.deadLetterContainerName
    principalIds: [for (sub, i) in subscriptionIds: monitored[i].outputs.topicPrincipalId]
  }
}

// Second pass only: Event Grid validates that the function exists when the subscription is created.
module eventSubscriptions 'app/eventgrid-subscription.bicep' = [for (sub, i) in eventSubscriptionTargets: {
  name: 'aks-triage-eventsub-${i}-${resourceToken}'
  scope: resourceGroup(sub, topicResourceGroupName)
  dependsOn: [
    deadLetterAccess
    rbac
  ]
  params: {
    topicName: monitored[i].outputs.topicName
    functionAppId: function.outputs.id
    deadLetterStorageAccountId: storage.outputs.id
    deadLetterContainerName: storage.outputs.deadLetterContainerName
  }
}]

module aksTopics 'app/aks-system-topic.bicep' = [for (clusterId, i) in aksTopicTargets: {
  name: 'aks-triage-akstopic-${i}-${resourceToken}'
  scope: resourceGroup(empty(clusterId) ? subscription().subscriptionId : split(clusterId, '/')[2], empty(clusterId) ? rg.name : split(clusterId, '/')[4])
  params: {
    clusterId: clusterId
    functionAppId: function.outputs.id
    deadLetterStorageAccountId: storage.outputs.id
    deadLetterContainerName: storage.outputs.deadLetterContainerName
    tags: tags
    workspaceId: findingsTable.outputs.workspaceId
  }
}]

// azd exports these as environment variables (and the hook reads them).
output AZURE_LOCATION string = location
// azd sets this too; as an output the postdeploy hook's --subscription is always backed by the template.
output AZURE_SUBSCRIPTION_ID string = subscription().subscriptionId
output AZURE_TENANT_ID string = tenant().tenantId
output AZURE_RESOURCE_GROUP string = rg.name
output AZURE_FUNCTION_APP_NAME string = function.outputs.name
output AZURE_FUNCTION_APP_ID string = function.outputs.id
output AZURE_STORAGE_ACCOUNT_NAME string = storage.outputs.name
output AZURE_STORAGE_ACCOUNT_ID string = storage.outputs.id
output AZURE_KEY_VAULT_NAME string = keyVault.outputs.name
output AZURE_LOG_ANALYTICS_WORKSPACE_ID string = findingsTable.outputs.workspaceId
output AZURE_MANAGED_IDENTITY_CLIENT_ID string = identity.outputs.clientId
// infra/mg/main.bicep (management group mode) takes it as appPrincipalId.
output AZURE_MANAGED_IDENTITY_PRINCIPAL_ID string = identity.outputs.principalId
output APPLICATIONINSIGHTS_CONNECTION_STRING string = monitoring.outputs.applicationInsightsConnectionString
output AKS_TRIAGE_LOGS_INGESTION_ENDPOINT string = monitoring.outputs.logsIngestionEndpoint
output AKS_TRIAGE_DCR_IMMUTABLE_ID string = monitoring.outputs.dataCollectionRuleImmutableId
output AKS_TRIAGE_DCR_STREAM string = monitoring.outputs.stream
output AKS_TRIAGE_FINDINGS_WORKSPACE_ID string = findingsReader.outputs.customerId
output AKS_TRIAGE_WORKBOOK_URL string = monitoring.outputs.workbookUrl
output MONITORED_SUBSCRIPTION_IDS string = join(subscriptionIds, ',')
output EVENT_SUBSCRIPTIONS_DEPLOYED bool = deployEventSubscriptions
output AKS_TRIAGE_FINDINGS_TOPIC_ENDPOINT string = deployFindingsTopic ? findingsTopic.outputs.endpoint : ''
