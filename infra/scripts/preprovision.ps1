# azd preprovision hook (Windows): see preprovision.sh for the why.
$ErrorActionPreference = 'Stop'
$functionName = 'on_aks_event'
$flag = 'false'
if ($env:AZURE_SUBSCRIPTION_ID -and $env:AZURE_RESOURCE_GROUP -and $env:AZURE_FUNCTION_APP_NAME) {
    az functionapp function show --subscription $env:AZURE_SUBSCRIPTION_ID --resource-group $env:AZURE_RESOURCE_GROUP `
        --name $env:AZURE_FUNCTION_APP_NAME --function-name $functionName --query name -o tsv 2>$null | Out-Null
    if ($LASTEXITCODE -eq 0) { $flag = 'true' }
}
Write-Host "preprovision: $functionName deployed: $flag; DEPLOY_EVENT_SUBSCRIPTIONS=$flag"
azd env set DEPLOY_EVENT_SUBSCRIPTIONS $flag
