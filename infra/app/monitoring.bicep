// Application Insights (workspace-based, Entra-only ingestion), the Logs Ingestion path for
// findings (DCE + DCR whose stream is declared from shared/schema/findings_table.json) and the
// findings workbook.
param location string
param tags object
param workspaceId string
param findingsTableName string
param applicationInsightsName string
param dataCollectionEndpointName string
param dataCollectionRuleName string
param workbookDisplayName string = 'AKS triage findings'

var schema = loadJsonContent('../../shared/schema/findings_table.json')
// The stream the code posts (Settings.dcr_stream) and the table it lands in; one declaration,
// same columns as the table, no transformation.
var streamColumns = [for column in schema.columns: {
  name: column.name
  type: column.type
}]

resource applicationInsights 'Microsoft.Insights/components@2020-02-02' = {
  name: applicationInsightsName
  location: location
  tags: tags
  kind: 'web'
  properties: {
    Application_Type: 'web'
    WorkspaceResourceId: workspaceId
    IngestionMode: 'LogAnalytics'
    DisableLocalAuth: true
    publicNetworkAccessForIngestion: 'Enabled'
    publicNetworkAccessForQuery: 'Enabled'
  }
}

resource dataCollectionEndpoint 'Microsoft.Insights/dataCollectionEndpoints@2023-03-11' = {
  name: dataCollectionEndpointName
  location: location
  tags: tags
  properties: {
    networkAcls: {
      publicNetworkAccess: 'Enabled'
    }
  }
}

resource dataCollectionRule 'Microsoft.Insights/dataCollectionRules@2023-03-11' = {
  name: dataCollectionRuleName
  location: location
  tags: tags
  properties: {
    description: 'aks-triage findings -> ${findingsTableName}'
    dataCollectionEndpointId: dataCollectionEndpoint.id
    streamDeclarations: {
      '${schema.stream}': {
        columns: streamColumns
      }
    }
    destinations: {
      logAnalytics: [
        {
          name: 'findingsWorkspace'
          workspaceResourceId: workspaceId
        }
      ]
    }
    dataFlows: [
      {
        streams: [
          schema.stream
        ]
        destinations: [
          'findingsWorkspace'
        ]
        transformKql: 'source'
        outputStream: 'Custom-${findingsTableName}'
      }
    ]
  }
}

// Resource logs and metrics into the findings workspace (tests/infra/test_diagnostics.py). LogErrors:
// rows the DCR rejected or failed to transform (a schema drift between the code and the stream).
resource dcrDiagnostics 'Microsoft.Insights/diagnosticSettings@2021-05-01-preview' = {
  name: 'to-workspace'
  scope: dataCollectionRule
  properties: {
    workspaceId: workspaceId
    logs: [
      { category: 'LogErrors', enabled: true }
    ]
    metrics: [
      { category: 'AllMetrics', enabled: true }
    ]
  }
}

// The workbook JSON is kept as a file (infra/workbook/aks-triage.workbook.json) so tests can parse
// it and type-check every query; only the default resource is filled in here.
resource workbook 'Microsoft.Insights/workbooks@2023-06-01' = {
  name: guid(resourceGroup().id, 'aks-triage-findings-workbook')
  location: location
  tags: tags
  kind: 'shared'
  properties: {
    displayName: workbookDisplayName
    category: 'workbook'
    sourceId: workspaceId
    version: 'Notebook/1.0'
    serializedData: string(union(loadJsonContent('../workbook/aks-triage.workbook.json'), {
      fallbackResourceIds: [
        workspaceId
      ]
    }))
  }
}

output applicationInsightsId string = applicationInsights.id
output applicationInsightsName string = applicationInsights.name
output applicationInsightsConnectionString string = applicationInsights.properties.ConnectionString
output logsIngestionEndpoint string = dataCollectionEndpoint.properties.logsIngestion.endpoint
output dataCollectionRuleId string = dataCollectionRule.id
output dataCollectionRuleName string = dataCollectionRule.name
output dataCollectionRuleImmutableId string = dataCollectionRule.properties.immutableId
output stream string = schema.stream
output workbookId string = workbook.id
output workbookUrl string = '${environment().portal}/#@${tenant().tenantId}/resource${workbook.id}/workbook'
