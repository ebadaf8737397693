// Flex Consumption plan + Python 3.11 Function App running as the user-assigned identity.
// App settings: host/platform settings (identity-based AzureWebJobsStorage, Entra-authenticated
// Application Insights with OpenTelemetry) plus one AKS_TRIAGE_* setting per field of
// shared/settings.py:Settings (tests/infra/test_bicep.py keeps the two in step).
param name string
param location string
param tags object
param planName string
param serviceName string
param identityId string
param identityClientId string
param storageBlobEndpoint string
param storageQueueEndpoint string
param storageTableEndpoint string
param deploymentContainerName string
param applicationInsightsConnectionString string
@minValue(40)
@maxValue(1000)
param maximumInstanceCount int = 40
@allowed([512, 2048, 4096])
param instanceMemoryMB int = 2048
@description('Always-ready instances for the Event Grid function (billed while idle); 0 = scale from zero.')
@minValue(0)
param alwaysReadyInstances int = 0

// Values for the AKS_TRIAGE_* settings that come from other modules.
param armEndpoint string
@allowed(['rest', 'workspace', 'both'])
param activityLogSource string
param activityWorkspaceId string
param workQueueName string
param stateTableName string
param logsIngestionEndpoint string
param dcrImmutableId string
param dcrStream string
param findingsWorkspaceId string
@description('Key Vault reference for the Teams webhook URL, or empty to disable Teams.')
param teamsWebhookReference string
param workbookUrl string
@description('Log Analytics workspace for the app\'s resource logs (diagnostic settings).')
param workspaceId string
@description('Endpoint of the Event Grid topic that receives findings as CloudEvents; empty = no Event Grid sink.')
param findingsTopicEndpoint string = ''

resource plan 'Microsoft.Web/serverfarms@2024-04-01' = {
  name: planName
  location: location
  tags: tags
  kind: 'functionapp'
  sku: {
    name: 'FC1'
    tier: 'FlexConsumption'
  }
  properties: {
    //checkov:skip=CKV_AZURE_225: Zone redundancy is not offered for Flex Consumption in every region and needs ZRS storage; a zonal outage only delays events (Event Grid retries for 24 h and dead-letters the rest).
    reserved: true
  }
}

resource functionApp 'Microsoft.Web/sites@2024-04-01' = {
  name: name
  location: location
  tags: union(tags, { 'azd-service-name': serviceName })
  kind: 'functionapp,linux'
  identity: {
    type: 'UserAssigned'
    userAssignedIdentities: {
      '${identityId}': {}
    }
  }
  properties: {
    //checkov:skip=CKV_AZURE_222: Public network access is required - Event Grid delivers to AzureFunction endpoints over the public endpoint (managed-identity delivery is not available for this endpoint type), authenticated with the Functions system key it fetches through ARM.
    //checkov:skip=CKV_AZURE_212: Flex Consumption scales from zero; a cold start that outlasts Event Grid's 30 s wait is retried by Event Grid (up to 24 h, then dead-lettered). Set alwaysReadyInstances to keep warm instances (billed).
    //checkov:skip=CKV_AZURE_213: No HTTP functions to probe; Flex Consumption manages instance health itself and the monitor-health alert reports failed invocations.
    //checkov:skip=CKV_AZURE_17: Client certificates are not used by Event Grid delivery; requiring them would block every event.
    serverFarmId: plan.id
    httpsOnly: true
    publicNetworkAccess: 'Enabled'
    clientCertEnabled: false
    keyVaultReferenceIdentity: identityId
    functionAppConfig: {
      deployment: {
        storage: {
          type: 'blobContainer'
          value: '${storageBlobEndpoint}${deploymentContainerName}'
          authentication: {
            type: 'UserAssignedIdentity'
            userAssignedIdentityResourceId: identityId
          }
        }
      }
      scaleAndConcurrency: {
        maximumInstanceCount: maximumInstanceCount
        instanceMemoryMB: instanceMemoryMB
        alwaysReady: alwaysReadyInstances == 0 ? [] : [
          {
            name: 'function:on_aks_event'
            instanceCount: alwaysReadyInstances
          }
        ]
      }
      runtime: {
        name: 'python'
        version: '3.11'
      }
    }
    siteConfig: {
      minTlsVersion: '1.2'
      scmMinTlsVersion: '1.2'
      ftpsState: 'Disabled'
      http20Enabled: true
      appSettings: [
        // --- Functions host / platform ------------------------------------------------------
        { name: 'AzureWebJobsStorage__credential', value: 'managedidentity' }
        { name: 'AzureWebJobsStorage__clientId', value: identityClientId }
        { name: 'AzureWebJobsStorage__blobServiceUri', value: storageBlobEndpoint }
        { name: 'AzureWebJobsStorage__queueServiceUri', value: storageQueueEndpoint }
        { name: 'AzureWebJobsStorage__tableServiceUri', value: storageTableEndpoint }
        { name: 'APPLICATIONINSIGHTS_CONNECTION_STRING', value: applicationInsightsConnectionString }
        { name: 'APPLICATIONINSIGHTS_AUTHENTICATION_STRING', value: 'ClientId=${identityClientId};Authorization=AAD' }
        // OpenTelemetry from the Python worker (host.json "telemetryMode": "OpenTelemetry").
        { name: 'PYTHON_APPLICATIONINSIGHTS_ENABLE_TELEMETRY', value: 'true' }
        // Its cold-start set-up cut with distro settings, exactly what benchmarks/cold_wiring.py runs:
        // only the Azure SDK instrumentation, only the Functions resource detector (no VM IMDS
        // probe), no statsbeat, no OneSettings poll. Reasons: tests/infra/test_telemetry_settings.py.
        { name: 'OTEL_PYTHON_DISABLED_INSTRUMENTATIONS', value: 'django,fastapi,flask,httpx,httpx2,psycopg2,requests,urllib,urllib3' }
        { name: 'OTEL_EXPERIMENTAL_RESOURCE_DETECTORS', value: 'azure_functions' }
        { name: 'APPLICATIONINSIGHTS_STATSBEAT_DISABLED_ALL', value: 'true' }
        { name: 'APPLICATIONINSIGHTS_CONTROLPLANE_DISABLED', value: 'true' }
        // azure-identity: which identity DefaultAzureCredential / ManagedIdentityCredential uses.
        { name: 'AZURE_CLIENT_ID', value: identityClientId }
        // --- shared/settings.py:Settings (prefix AKS_TRIAGE_) -------------------------------
        { name: 'AKS_TRIAGE_ARM_ENDPOINT', value: armEndpoint }
        { name: 'AKS_TRIAGE_ARM_CONCURRENCY', value: '8' }
        { name: 'AKS_TRIAGE_ARM_RETRY_TOTAL', value: '3' }
        { name: 'AKS_TRIAGE_ARM_RETRY_AFTER_CAP_S', value: '10' }
        { name: 'AKS_TRIAGE_ARM_CACHE_TTL_S', value: '60' }
        { name: 'AKS_TRIAGE_CHECK_TIMEOUT_S', value: '20' }
        { name: 'AKS_TRIAGE_ACTIVITY_LOG_SOURCE', value: activityLogSource }
        { name: 'AKS_TRIAGE_ACTIVITY_WORKSPACE_ID', value: activityWorkspaceId }
        { name: 'AKS_TRIAGE_ERROR_RETRY_SCHEDULE_S', value: '15,30' }
        { name: 'AKS_TRIAGE_ERROR_DEADLINE_MIN', value: '30' }
        { name: 'AKS_TRIAGE_STORAGE_ACCOUNT_URL', value: storageQueueEndpoint }
        { name: 'AKS_TRIAGE_WORK_QUEUE', value: workQueueName }
        { name: 'AKS_TRIAGE_STATE_TABLE', value: stateTableName }
        { name: 'AKS_TRIAGE_LOGS_INGESTION_ENDPOINT', value: logsIngestionEndpoint }
        { name: 'AKS_TRIAGE_DCR_IMMUTABLE_ID', value: dcrImmutableId }
        { name: 'AKS_TRIAGE_DCR_STREAM', value: dcrStream }
        { name: 'AKS_TRIAGE_FINDINGS_WORKSPACE_ID', value: findingsWorkspaceId }
        { name: 'AKS_TRIAGE_TEAMS_WEBHOOK_URL', value: teamsWebhookReference }
        { name: 'AKS_TRIAGE_TEAMS_MAX_PER_SECOND', value: '4' }
        { name: 'AKS_TRIAGE_WORKBOOK_URL', value: workbookUrl }
        { name: 'AKS_TRIAGE_FINDINGS_TOPIC_ENDPOINT', value: findingsTopicEndpoint }
        // A custom topic (infra/modules/findings_topic.bicep) has no topic name; a namespace topic does.
        { name: 'AKS_TRIAGE_FINDINGS_NAMESPACE_TOPIC', value: '' }
        { name: 'AKS_TRIAGE_GROUP_WINDOW_MIN', value: '60' }
        { name: 'AKS_TRIAGE_ESCALATE_AFTER_H', value: '24' }
        { name: 'AKS_TRIAGE_SDK_LOG_LEVEL', value: 'WARNING' }
      ]
    }
  }
}

// Resource logs and metrics into the findings workspace (tests/infra/test_diagnostics.py).
resource diagnostics 'Microsoft.Insights/diagnosticSettings@2021-05-01-preview' = {
  name: 'to-workspace'
  scope: functionApp
  properties: {
    workspaceId: workspaceId
    logs: [
      { category: 'FunctionAppLogs', enabled: true }
    ]
    metrics: [
      { category: 'AllMetrics', enabled: true }
    ]
  }
}

// No FTP / SCM basic-auth publishing: azd deploys Flex packages with Entra ID.
resource ftpPolicy 'Microsoft.Web/sites/basicPublishingCredentialsPolicies@2023-12-01' = {
  parent: functionApp
  name: 'ftp'
  properties: {
    allow: false
  }
}

resource scmPolicy 'Microsoft.Web/sites/basicPublishingCredentialsPolicies@2023-12-01' = {
  parent: functionApp
  name: 'scm'
  properties: {
    allow: false
  }
}

output id string = functionApp.id
output name string = functionApp.name
output defaultHostName string = functionApp.properties.defaultHostName
