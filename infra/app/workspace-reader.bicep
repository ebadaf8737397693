// Log Analytics Reader for the app identity on one workspace (the findings workspace for failure
// history, and optionally the workspace that receives the Activity Log). Deployed at the
// workspace's resource group, which may be in another subscription.
param workspaceName string
param principalId string

var roles = loadJsonContent('roles.json')

resource workspace 'Microsoft.OperationalInsights/workspaces@2023-09-01' existing = {
  name: workspaceName
}

resource logAnalyticsReader 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(workspace.id, principalId, roles.LogAnalyticsReader)
  scope: workspace
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.LogAnalyticsReader)
    principalId: principalId
    principalType: 'ServicePrincipal'
  }
}

// The workspace id (GUID) the Logs Query API takes.
output customerId string = workspace.properties.customerId
