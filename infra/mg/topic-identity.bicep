// Management group mode: the ONE user-assigned identity every policy-deployed system topic
// dead-letters with, and its write access to the dead-letter container (granted once here, so the
// policy's remediation never has to assign roles). Deployed at the app storage account's resource group.
param name string
param location string
param tags object = {}
param storageAccountName string
param deadLetterContainerName string

resource identity 'Microsoft.ManagedIdentity/userAssignedIdentities@2023-01-31' = {
  name: name
  location: location
  tags: tags
}

module deadLetterAccess '../app/deadletter-access.bicep' = {
  name: 'aks-triage-mg-deadletter-access'
  params: {
    storageAccountName: storageAccountName
    containerName: deadLetterContainerName
    principalIds: [
      identity.properties.principalId
    ]
  }
}

output id string = identity.id
output name string = identity.name
