// Read access for the app identity to ONE table of a workspace (the findings table for failure
// history; AzureActivity in the workspace that receives the Activity Log), not to every table.
// Table-level read access as Azure Monitor documents it (manage-table-access): at the workspace, a
// custom role that can read the workspace and run queries but read no table data; at the table,
// Reader. Deployed at the workspace's resource group, which may be in another subscription.
param workspaceName string
param tableName string
param principalId string
@description('What the grant is for (findings / activity); keeps the custom role names apart when both tables share a workspace.')
param purpose string

var roles = loadJsonContent('roles.json')

resource workspace 'Microsoft.OperationalInsights/workspaces@2023-09-01' existing = {
  name: workspaceName
}

resource table 'Microsoft.OperationalInsights/workspaces/tables@2022-10-01' existing = {
  parent: workspace
  name: tableName
}

// Query the workspace, read no table. sharedKeys/read stays out (the agent key would bypass RBAC).
resource queryOnly 'Microsoft.Authorization/roleDefinitions@2022-04-01' = {
  name: guid(workspace.id, purpose, 'aks-triage-workspace-query')
  properties: {
    roleName: 'aks-triage workspace query ${purpose} ${uniqueString(workspace.id)}'
    description: 'Read the workspace and run queries; table data comes only from Reader on a table.'
    type: 'CustomRole'
    assignableScopes: [
      workspace.id
    ]
    permissions: [
      {
        actions: [
          'Microsoft.OperationalInsights/workspaces/read'
          'Microsoft.OperationalInsights/workspaces/query/read'
        ]
        notActions: [
          'Microsoft.OperationalInsights/workspaces/sharedKeys/read'
        ]
        dataActions: []
        notDataActions: []
      }
    ]
  }
}

resource workspaceQuery 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(workspace.id, principalId, queryOnly.id)
  scope: workspace
  properties: {
    roleDefinitionId: queryOnly.id
    principalId: principalId
    principalType: 'ServicePrincipal'
  }
}

resource tableReader 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(table.id, principalId, roles.Reader)
  scope: table
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.Reader)
    principalId: principalId
    principalType: 'ServicePrincipal'
  }
}

// The workspace id (GUID) the Logs Query API takes.
output customerId string = workspace.properties.customerId
