// The Teams Workflows webhook URL as a Key Vault secret (deployed only when a URL is given).
param vaultName string
param secretName string
@secure()
param value string

resource vault 'Microsoft.KeyVault/vaults@2023-07-01' existing = {
  name: vaultName
}

resource secret 'Microsoft.KeyVault/vaults/secrets@2023-07-01' = {
  parent: vault
  name: secretName
  properties: {
    //checkov:skip=CKV_AZURE_41: No expiry - the URL's lifetime is set by the Teams workflow, not by the vault; an expiry date would silently turn off alerting when it passes. Rotate by setting a new secret version.
    value: value
    contentType: 'text/uri'
    attributes: {
      enabled: true
    }
  }
}

output name string = secret.name
