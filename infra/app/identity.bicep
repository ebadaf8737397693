// User-assigned managed identity the Function App runs as. Every data-plane and ARM permission of
// the app is granted to this identity (rbac.bicep, monitored-subscription.bicep); it has no keys.
param name string
param location string
param tags object

resource identity 'Microsoft.ManagedIdentity/userAssignedIdentities@2023-01-31' = {
  name: name
  location: location
  tags: tags
}

output id string = identity.id
output name string = identity.name
output principalId string = identity.properties.principalId
output clientId string = identity.properties.clientId
