# azd postdeploy hook (Windows): see postdeploy.sh for the why.
$ErrorActionPreference = 'Stop'
$functionName = 'on_aks_event'

if ($env:DEPLOY_EVENT_SUBSCRIPTIONS -eq 'true' -and $env:EVENT_SUBSCRIPTIONS_DEPLOYED -eq 'true') {
    Write-Host 'Event Grid subscriptions already deployed.'
    exit 0
}
if (-not $env:AZURE_SUBSCRIPTION_ID -or -not $env:AZURE_RESOURCE_GROUP -or -not $env:AZURE_FUNCTION_APP_NAME) {
    throw 'AZURE_SUBSCRIPTION_ID / AZURE_RESOURCE_GROUP / AZURE_FUNCTION_APP_NAME missing: run azd provision first'
}

Write-Host "Waiting for $($env:AZURE_FUNCTION_APP_NAME) to index $functionName..."
$found = $false
for ($i = 0; $i -lt 30; $i++) {
    az functionapp function show --subscription $env:AZURE_SUBSCRIPTION_ID --resource-group $env:AZURE_RESOURCE_GROUP --name $env:AZURE_FUNCTION_APP_NAME `
        --function-name $functionName --query name -o tsv 2>$null | Out-Null
    if ($LASTEXITCODE -eq 0) { $found = $true; break }
    Start-Sleep -Seconds 10
}
if (-not $found) {
    throw "$functionName not found after 5 minutes; check the deployment, then: azd env set DEPLOY_EVENT_SUBSCRIPTIONS true; azd provision"
}

azd env set DEPLOY_EVENT_SUBSCRIPTIONS true
azd provision --no-prompt
