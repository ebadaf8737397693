// Management group mode: the policy assignment's identity may attach the shared topic identity
// (Managed Identity Operator on that one identity, nothing else in the resource group).
param identityName string
param principalId string

var roles = loadJsonContent('../app/roles.json')

resource identity 'Microsoft.ManagedIdentity/userAssignedIdentities@2023-01-31' existing = {
  name: identityName
}

resource operator 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(identity.id, principalId, roles.ManagedIdentityOperator)
  scope: identity
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.ManagedIdentityOperator)
    principalId: principalId
    principalType: 'ServicePrincipal'
  }
}
