// OPTIONAL: the per-cluster AKS system topic (Microsoft.ContainerService.ManagedClusters) and an
// event subscription for Microsoft.ContainerService.NodePoolRollingFailed to `on_aks_event`.
// Subscription-level ARM events do not carry node-image / rolling-upgrade failures; this topic
// does, but only once the cluster exists, and Azure allows one system topic per cluster.
//
// Deploy at the cluster's resource group, after the app (see infra/README.md):
//   az deployment group create -g <cluster-rg> -f infra/app/aks-system-topic.bicep \
//     -p clusterId=<cluster id> functionAppId=<AZURE_FUNCTION_APP_ID> \
//        deadLetterStorageAccountId=<AZURE_STORAGE_ACCOUNT_ID>
// or list cluster ids in AKS_TRIAGE_AKS_CLUSTER_IDS and let main.bicep do it.
@description('Resource id of the AKS cluster (must be in the resource group this is deployed to).')
param clusterId string
param functionAppId string
param deadLetterStorageAccountId string
param deadLetterContainerName string = 'eventgrid-deadletter'
param tags object = {}
@description('Log Analytics workspace for delivery-failure logs; empty = no diagnostic setting.')
param workspaceId string = ''
param name string = 'egst-aks-${last(split(clusterId, '/'))}'

resource cluster 'Microsoft.ContainerService/managedClusters@2025-05-01' existing = {
  name: last(split(clusterId, '/'))
}

resource topic 'Microsoft.EventGrid/systemTopics@2022-06-15' = {
  name: name
  location: cluster.location
  tags: tags
  identity: {
    type: 'SystemAssigned'
  }
  properties: {
    source: cluster.id
    topicType: 'Microsoft.ContainerService.ManagedClusters'
  }
}

// Resource logs and metrics into the findings workspace (tests/infra/test_diagnostics.py).
resource diagnostics 'Microsoft.Insights/diagnosticSettings@2021-05-01-preview' = if (!empty(workspaceId)) {
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

module deadLetterAccess 'deadletter-access.bicep' = {
  name: 'aks-triage-dl-${uniqueString(cluster.id)}'
  scope: resourceGroup(split(deadLetterStorageAccountId, '/')[2], split(deadLetterStorageAccountId, '/')[4])
  params: {
    storageAccountName: last(split(deadLetterStorageAccountId, '/'))
    containerName: deadLetterContainerName
    principalIds: [
      topic.identity.principalId
    ]
  }
}

resource eventSubscription 'Microsoft.EventGrid/systemTopics/eventSubscriptions@2022-06-15' = {
  parent: topic
  name: 'aks-triage'
  dependsOn: [
    deadLetterAccess
  ]
  properties: {
    destination: {
      endpointType: 'AzureFunction'
      properties: {
        resourceId: '${functionAppId}/functions/on_aks_event'
        maxEventsPerBatch: 1
        preferredBatchSizeInKilobytes: 64
      }
    }
    eventDeliverySchema: 'EventGridSchema'
    filter: {
      includedEventTypes: [
        'Microsoft.ContainerService.NodePoolRollingFailed'
      ]
    }
    retryPolicy: {
      maxDeliveryAttempts: 30
      eventTimeToLiveInMinutes: 1440
    }
    deadLetterWithResourceIdentity: {
      identity: {
        type: 'SystemAssigned'
      }
      deadLetterDestination: {
        endpointType: 'StorageBlob'
        properties: {
          resourceId: deadLetterStorageAccountId
          blobContainerName: deadLetterContainerName
        }
      }
    }
  }
}

output topicId string = topic.id
output eventSubscriptionId string = eventSubscription.id
