// Key Vault for the Teams Workflows webhook URL (the only secret). The Function App reads it through
// a Key Vault reference resolved with its user-assigned identity; RBAC mode, no access policies.
param name string
param location string
param tags object
@secure()
@description('Teams Workflows webhook URL; empty = no secret, Teams posting disabled.')
param teamsWebhookUrl string = ''
@description('Log Analytics workspace for the vault\'s audit log (diagnostic settings).')
param workspaceId string

var teamsSecretName = 'teams-webhook-url'

resource vault 'Microsoft.KeyVault/vaults@2023-07-01' = {
  name: name
  location: location
  tags: tags
  properties: {
    //checkov:skip=CKV_AZURE_109: No VNet in this deployment, so the vault keeps a public endpoint; access is Entra ID RBAC only (no access policies) and the app identity can read one secret. Add a private endpoint together with VNet integration of the Function App.
    //checkov:skip=CKV_AZURE_189: Same reason as CKV_AZURE_109 - App Service resolves Key Vault references over the public endpoint unless the app is VNet-integrated.
    //checkov:skip=CKV_AZURE_42: Recoverable = soft delete + purge protection; soft delete is on, purge protection is off for the reason given for CKV_AZURE_110.
    //checkov:skip=CKV_AZURE_110: Purge protection is off on purpose - the vault holds one re-creatable webhook URL, and purge protection would block `azd down --purge` and a redeploy of the same environment name for the whole retention period. Soft delete stays on.
    tenantId: tenant().tenantId
    sku: {
      family: 'A'
      name: 'standard'
    }
    enableRbacAuthorization: true
    enableSoftDelete: true
    softDeleteRetentionInDays: 7
    publicNetworkAccess: 'Enabled'
    networkAcls: {
      defaultAction: 'Allow'
      bypass: 'AzureServices'
    }
  }
}

// Resource logs and metrics into the findings workspace (tests/infra/test_diagnostics.py).
// AuditEvent: every secret read (the app resolving its Key Vault reference) and every change.
resource diagnostics 'Microsoft.Insights/diagnosticSettings@2021-05-01-preview' = {
  name: 'to-workspace'
  scope: vault
  properties: {
    workspaceId: workspaceId
    logs: [
      { categoryGroup: 'audit', enabled: true }
    ]
    metrics: [
      { category: 'AllMetrics', enabled: true }
    ]
  }
}

// A module, not a conditional resource: checkov evaluates conditional resources' bodies as
// missing, and the secret's own checks should run.
module teamsSecret 'teams-secret.bicep' = if (!empty(teamsWebhookUrl)) {
  name: 'teams-secret'
  params: {
    vaultName: vault.name
    secretName: teamsSecretName
    value: teamsWebhookUrl
  }
}

output id string = vault.id
output name string = vault.name
output teamsSecretName string = teamsSecretName
output teamsSecretCreated bool = !empty(teamsWebhookUrl)
// Versionless reference: the app picks up a new secret version without a redeploy.
output teamsWebhookReference string = empty(teamsWebhookUrl) ? '' : '@Microsoft.KeyVault(VaultName=${vault.name};SecretName=${teamsSecretName})'
