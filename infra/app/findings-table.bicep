// The findings custom table, deployed into the workspace's resource group (which may be another
// subscription when an existing workspace is used). Columns come from the one schema file the
// code also reads: shared/schema/findings_table.json.
param workspaceName string
param retentionInDays int
param totalRetentionInDays int

var schema = loadJsonContent('../../shared/schema/findings_table.json')

resource workspace 'Microsoft.OperationalInsights/workspaces@2023-09-01' existing = {
  name: workspaceName
}

resource findingsTable 'Microsoft.OperationalInsights/workspaces/tables@2022-10-01' = {
  parent: workspace
  name: schema.table
  properties: {
    plan: 'Analytics'
    retentionInDays: retentionInDays
    totalRetentionInDays: totalRetentionInDays
    schema: {
      name: schema.table
      description: 'AKS failed-operation findings written by aks-triage through the Logs Ingestion API'
      columns: [for column in schema.columns: {
        name: column.name
        type: column.type
        description: column.description
      }]
    }
  }
}

output tableName string = findingsTable.name
output workspaceId string = workspace.id
output customerId string = workspace.properties.customerId
// DCE, DCR and log alerts go to the workspace's region (a DCR must be in its destination's region).
output location string = workspace.location
