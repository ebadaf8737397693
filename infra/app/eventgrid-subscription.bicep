// The event subscription from one subscription system topic to the `on_aks_event` function.
// Filters mirror the intake (shared/events.py ACCEPTED_EVENT_TYPES / ACCEPTED_OPERATION_PREFIXES;
// tests/infra compares them): ARM failures on AKS clusters and agent pools, plus successes, which
// resolve open findings. NodePoolRollingFailed comes from the per-cluster AKS topic instead
// (aks-system-topic.bicep).
//
// Deployed only after the function code exists (Event Grid validates an AzureFunction endpoint at
// creation); see infra/scripts/postdeploy.sh.
param topicName string
param functionAppId string
param deadLetterStorageAccountId string
param deadLetterContainerName string
param name string = 'aks-triage'

resource topic 'Microsoft.EventGrid/systemTopics@2022-06-15' existing = {
  name: topicName
}

resource eventSubscription 'Microsoft.EventGrid/systemTopics/eventSubscriptions@2022-06-15' = {
  parent: topic
  name: name
  properties: {
    // AzureFunction endpoints cannot use managed-identity delivery (Event Grid supports it for
    // Service Bus, Event Hubs and Storage only); Event Grid authenticates with the function's
    // system key, which it fetches through ARM. Dead-lettering does use the topic's identity.
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
        'Microsoft.Resources.ResourceWriteFailure'
        'Microsoft.Resources.ResourceActionFailure'
        'Microsoft.Resources.ResourceDeleteFailure'
        'Microsoft.Resources.ResourceWriteSuccess'
      ]
      enableAdvancedFilteringOnArrays: true
      advancedFilters: [
        {
          // Case-insensitive prefix: managedClusters/* and managedClusters/agentPools/*.
          operatorType: 'StringBeginsWith'
          key: 'data.operationName'
          values: [
            'Microsoft.ContainerService/managedClusters/'
          ]
        }
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

output id string = eventSubscription.id
